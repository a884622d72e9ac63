"""Enhanced fan-out consumers through boto3: Register / Describe / List / DeregisterStreamConsumer,
and SubscribeToShard's event stream read by botocore over HTTP/1.1."""
import threading
import time

import harness
from harness import error_code


class Consumers(harness.DaemonTestCase):

    def test_register_describe_list_deregister(self):
        name = self.create_stream(shards=1)
        arn = self.arn(name)
        made = {}
        for cname in ('alpha', 'beta', 'gamma'):
            c = self.kinesis.register_stream_consumer(StreamARN=arn, ConsumerName=cname)['Consumer']
            self.assertEqual(c['ConsumerName'], cname)
            self.assertTrue(c['ConsumerARN'].startswith(arn + '/consumer/' + cname + ':'), c['ConsumerARN'])
            self.assertIn(c['ConsumerStatus'], ('CREATING', 'ACTIVE'))
            made[cname] = c['ConsumerARN']
        self.assertEqual(error_code(self.kinesis.register_stream_consumer, StreamARN=arn,
                                    ConsumerName='alpha'), 'ResourceInUseException')

        by_arn = self.kinesis.describe_stream_consumer(ConsumerARN=made['beta'])['ConsumerDescription']
        by_name = self.kinesis.describe_stream_consumer(StreamARN=arn,
                                                        ConsumerName='beta')['ConsumerDescription']
        self.assertEqual(by_arn, by_name)
        self.assertEqual(by_arn['ConsumerStatus'], 'ACTIVE')
        self.assertEqual(by_arn['StreamARN'], arn)
        self.assertEqual(by_arn['ConsumerARN'], made['beta'])

        listed, r = [], self.kinesis.list_stream_consumers(StreamARN=arn, MaxResults=2)
        pages = 1
        listed += r['Consumers']
        while 'NextToken' in r:
            r = self.kinesis.list_stream_consumers(StreamARN=arn, NextToken=r['NextToken'],
                                                   MaxResults=2)
            pages += 1
            listed += r['Consumers']
        self.assertEqual(pages, 2)
        self.assertEqual({c['ConsumerName']: c['ConsumerARN'] for c in listed}, made)

        self.kinesis.deregister_stream_consumer(ConsumerARN=made['alpha'])
        self.kinesis.deregister_stream_consumer(StreamARN=arn, ConsumerName='beta')
        for cname in ('alpha', 'beta'):
            self.assertEqual(error_code(self.kinesis.describe_stream_consumer, ConsumerARN=made[cname]),
                             'ResourceNotFoundException')
        left = self.kinesis.list_stream_consumers(StreamARN=arn)['Consumers']
        self.assertEqual([c['ConsumerName'] for c in left], ['gamma'])
        self.assertEqual(error_code(self.kinesis.list_stream_consumers,
                                    StreamARN=arn.replace(name, 'absent-stream')),
                         'ResourceNotFoundException')

    def subscribe(self, consumer_arn, shard, position):
        r = self.kinesis.subscribe_to_shard(ConsumerARN=consumer_arn, ShardId=shard,
                                            StartingPosition=position)
        return r['EventStream']

    def read_events(self, stream, want, deadline_s=15):
        """Records from `stream` until `want` arrived; returns (data, events)."""
        got, events = [], []
        deadline = time.monotonic() + deadline_s
        for event in stream:
            self.assertIn('SubscribeToShardEvent', event, list(event))
            e = event['SubscribeToShardEvent']
            events.append(e)
            got += [r['Data'] for r in e['Records']]
            if len(got) >= want or time.monotonic() > deadline:
                break
        return got, events

    def test_subscribe_to_shard(self):
        name = self.create_stream(shards=1)
        shard = 'shardId-000000000000'
        arn = self.arn(name)
        consumer = self.kinesis.register_stream_consumer(StreamARN=arn,
                                                         ConsumerName='efo')['Consumer']['ConsumerARN']
        before = [self.kinesis.put_record(StreamName=name, PartitionKey='k', Data=f'old-{i}'.encode())
                  for i in range(5)]

        # From TRIM_HORIZON: the records already there, then live ones.
        stream = self.subscribe(consumer, shard, {'Type': 'TRIM_HORIZON'})
        putter = threading.Timer(0.3, lambda: [
            self.kinesis.put_record(StreamName=name, PartitionKey='k', Data=f'live-{i}'.encode())
            for i in range(3)])
        putter.start()
        try:
            got, events = self.read_events(stream, 8)
            # While it is open, and within 5 s of its start, a second subscription for the same
            # consumer and shard fails.
            self.assertEqual(error_code(self.kinesis.subscribe_to_shard, ConsumerARN=consumer,
                                        ShardId=shard,
                                        StartingPosition={'Type': 'AFTER_SEQUENCE_NUMBER',
                                                          'SequenceNumber': before[-1]['SequenceNumber']}),
                             'ResourceInUseException')
        finally:
            putter.join()
            stream.close()
        # Closed, but still within 5 s of its start: refused all the same, as by Kinesis.
        self.assertEqual(error_code(self.kinesis.subscribe_to_shard, ConsumerARN=consumer,
                                    ShardId=shard, StartingPosition={'Type': 'LATEST'}),
                         'ResourceInUseException')
        self.assertEqual(got, [f'old-{i}'.encode() for i in range(5)] +
                         [f'live-{i}'.encode() for i in range(3)])
        last_seq = None
        for e in events:
            self.assertRegex(e['ContinuationSequenceNumber'], r'^[0-9]+$')
            self.assertIsInstance(e['MillisBehindLatest'], int)
            for r in e['Records']:
                last_seq = r['SequenceNumber']
            if e['Records']:
                self.assertGreaterEqual(int(e['ContinuationSequenceNumber']), int(last_seq))
        self.assertEqual(events[0]['Records'][0]['SequenceNumber'], before[0]['SequenceNumber'])

        # AFTER_SEQUENCE_NUMBER with the continuation (from another consumer): only what follows.
        other = self.kinesis.register_stream_consumer(StreamARN=arn,
                                                      ConsumerName='efo2')['Consumer']['ConsumerARN']
        self.kinesis.put_record(StreamName=name, PartitionKey='k', Data=b'next')
        stream = self.subscribe(other, shard, {'Type': 'AFTER_SEQUENCE_NUMBER',
                                               'SequenceNumber': events[-1]['ContinuationSequenceNumber']})
        try:
            got, _ = self.read_events(stream, 1)
        finally:
            stream.close()
        self.assertEqual(got, [b'next'])

        self.assertEqual(error_code(self.kinesis.subscribe_to_shard, ConsumerARN=consumer,
                                    ShardId='shardId-000000000005',
                                    StartingPosition={'Type': 'LATEST'}),
                         'ResourceNotFoundException')

    def test_subscription_of_a_split_parent_ends_with_its_children(self):
        name = self.create_stream(shards=1)
        arn = self.arn(name)
        consumer = self.kinesis.register_stream_consumer(StreamARN=arn,
                                                         ConsumerName='efo')['Consumer']['ConsumerARN']
        self.kinesis.put_record(StreamName=name, PartitionKey='k', Data=b'old')
        self.kinesis.split_shard(StreamName=name, ShardToSplit='shardId-000000000000',
                                 NewStartingHashKey=str(2**127))
        stream = self.subscribe(consumer, 'shardId-000000000000', {'Type': 'TRIM_HORIZON'})
        got, children = [], None
        try:
            deadline = time.monotonic() + 15
            for event in stream:
                e = event['SubscribeToShardEvent']
                got += [r['Data'] for r in e['Records']]
                if e.get('ChildShards'):
                    children = e['ChildShards']
                    self.assertNotIn('ContinuationSequenceNumber', e)
                    break
                self.assertLess(time.monotonic(), deadline, 'no ChildShards event')
        finally:
            stream.close()
        self.assertEqual(got, [b'old'])
        self.assertEqual(sorted(c['ShardId'] for c in children),
                         ['shardId-000000000001', 'shardId-000000000002'])


if __name__ == '__main__':
    harness.main()
