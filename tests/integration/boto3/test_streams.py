"""Streams through boto3: create (provisioned and on-demand), describe, list with pagination,
tags, retention, delete, and the errors boto3 reports."""
import datetime
import json
import re

import harness
from harness import error_code

MAX_HASH = 2**128 - 1


def with_list_streams_next_token(client):
    """`client` with ListStreams' NextToken (in and out). Older botocore models (Debian's 1.29)
    predate it: there it is passed and read through botocore's event hooks, on the wire exactly
    as a newer model sends it."""
    if harness.has_input(client, 'ListStreams', 'NextToken'):
        return client

    def take(params, context, **_):
        if 'NextToken' in params:
            context['next_token'] = params.pop('NextToken')

    def send(params, context, **_):
        if 'next_token' in context:
            body = json.loads(params['body'] or b'{}')
            body['NextToken'] = context['next_token']
            params['body'] = json.dumps(body).encode()

    def read(http_response, parsed, **_):
        if http_response.status_code == 200:
            token = json.loads(http_response.content).get('NextToken')
            if token is not None:
                parsed['NextToken'] = token

    client.meta.events.register('provide-client-params.kinesis.ListStreams', take)
    client.meta.events.register('before-call.kinesis.ListStreams', send)
    client.meta.events.register('after-call.kinesis.ListStreams', read)
    return client


class Streams(harness.DaemonTestCase):

    def test_create_with_shard_count_is_provisioned(self):
        name = self.create_stream(shards=2)
        s = self.kinesis.describe_stream_summary(StreamName=name)['StreamDescriptionSummary']
        self.assertEqual(s['StreamName'], name)
        self.assertEqual(s['StreamStatus'], 'ACTIVE')
        self.assertEqual(s['OpenShardCount'], 2)
        self.assertEqual(s['RetentionPeriodHours'], 24)
        self.assertEqual(s['StreamARN'], f'arn:aws:kinesis:us-east-1:{harness.ACCOUNT}:stream/{name}')
        # As AWS: a ShardCount without StreamModeDetails makes a PROVISIONED stream.
        self.assertEqual(s.get('StreamModeDetails'), {'StreamMode': 'PROVISIONED'})

    def test_on_demand_stream(self):
        name = self.create_stream(mode='ON_DEMAND')
        s = self.kinesis.describe_stream_summary(StreamName=name)['StreamDescriptionSummary']
        self.assertEqual(s['StreamModeDetails'], {'StreamMode': 'ON_DEMAND'})
        self.assertEqual(s['OpenShardCount'], 4)
        explicit = self.create_stream(shards=1, mode='PROVISIONED')
        s = self.kinesis.describe_stream_summary(StreamName=explicit)['StreamDescriptionSummary']
        self.assertEqual(s['StreamModeDetails'], {'StreamMode': 'PROVISIONED'})

    def test_describe_stream_shards_cover_the_hash_space(self):
        name = self.create_stream(shards=3)
        d = self.kinesis.describe_stream(StreamName=name)['StreamDescription']
        self.assertEqual(d['StreamStatus'], 'ACTIVE')
        self.assertFalse(d['HasMoreShards'])
        self.assertEqual([s['ShardId'] for s in d['Shards']],
                         [f'shardId-00000000000{i}' for i in range(3)])
        next_start = 0
        for s in d['Shards']:
            lo, hi = int(s['HashKeyRange']['StartingHashKey']), int(s['HashKeyRange']['EndingHashKey'])
            self.assertEqual(lo, next_start)
            self.assertLessEqual(lo, hi)
            next_start = hi + 1
            self.assertRegex(s['SequenceNumberRange']['StartingSequenceNumber'], r'^\d+$')
            self.assertNotIn('EndingSequenceNumber', s['SequenceNumberRange'])
        self.assertEqual(next_start, MAX_HASH + 1)
        # Limit pages DescribeStream's shards.
        d = self.kinesis.describe_stream(StreamName=name, Limit=2)['StreamDescription']
        self.assertEqual(len(d['Shards']), 2)
        self.assertTrue(d['HasMoreShards'])
        d = self.kinesis.describe_stream(StreamName=name, Limit=2,
                                         ExclusiveStartShardId=d['Shards'][-1]['ShardId'])
        self.assertEqual([s['ShardId'] for s in d['StreamDescription']['Shards']],
                         ['shardId-000000000002'])

    def test_list_streams_pages(self):
        prefix = self.unique('ls')
        names = [f'{prefix}-{i}' for i in range(5)]
        for n in names:
            self.create_stream(shards=1, name=n)
        client = with_list_streams_next_token(self.daemon.client('kinesis'))
        seen, pages, r = [], 0, None
        while True:
            if r is None:
                r = client.list_streams(Limit=2)
            else:
                r = client.list_streams(Limit=2, NextToken=r['NextToken'])
            pages += 1
            self.assertLessEqual(len(r['StreamNames']), 2)
            if harness.has_output(self.kinesis, 'ListStreams', 'StreamSummaries'):
                self.assertEqual([s['StreamName'] for s in r['StreamSummaries']], r['StreamNames'])
                for s in r['StreamSummaries']:
                    self.assertEqual(s['StreamStatus'], 'ACTIVE')
                    self.assertIsInstance(s['StreamCreationTimestamp'], datetime.datetime)
            seen += r['StreamNames']
            if not r['HasMoreStreams']:
                self.assertNotIn('NextToken', r)
                break
            self.assertIn('NextToken', r)
            self.assertLess(pages, 100)
        self.assertEqual(len(seen), len(set(seen)), 'no stream listed twice')
        self.assertEqual(seen, sorted(seen))
        for n in names:
            self.assertIn(n, seen)
        self.assertGreaterEqual(pages, 3)
        # ExclusiveStartStreamName pages the same way, and boto3's paginator walks the pages.
        after = self.kinesis.list_streams(Limit=2, ExclusiveStartStreamName=seen[1])['StreamNames']
        self.assertEqual(after, seen[2:4])
        listed = [n for page in self.kinesis.get_paginator('list_streams').paginate(
            PaginationConfig={'PageSize': 2}) for n in page['StreamNames']]
        self.assertEqual(listed, seen)

    def test_list_shards_pages(self):
        name = self.create_stream(shards=5)
        r = self.kinesis.list_shards(StreamName=name, MaxResults=2)
        got = [s['ShardId'] for s in r['Shards']]
        self.assertEqual(len(got), 2)
        while 'NextToken' in r:
            r = self.kinesis.list_shards(NextToken=r['NextToken'], MaxResults=2)
            self.assertLessEqual(len(r['Shards']), 2)
            got += [s['ShardId'] for s in r['Shards']]
        self.assertEqual(got, [f'shardId-00000000000{i}' for i in range(5)])
        r = self.kinesis.list_shards(StreamName=name, ExclusiveStartShardId='shardId-000000000002')
        self.assertEqual([s['ShardId'] for s in r['Shards']], got[3:])
        # A NextToken with the StreamName is refused, as by Kinesis.
        token = self.kinesis.list_shards(StreamName=name, MaxResults=1)['NextToken']
        self.assertEqual(error_code(self.kinesis.list_shards, StreamName=name, NextToken=token),
                         'InvalidArgumentException')

    def test_tags(self):
        name = self.create_stream(shards=1)
        self.kinesis.add_tags_to_stream(StreamName=name, Tags={'team': 'logs', 'env': 'test', 'tier': '1'})
        tags = self.kinesis.list_tags_for_stream(StreamName=name)
        self.assertEqual({t['Key']: t['Value'] for t in tags['Tags']},
                         {'team': 'logs', 'env': 'test', 'tier': '1'})
        self.assertFalse(tags['HasMoreTags'])
        first = self.kinesis.list_tags_for_stream(StreamName=name, Limit=2)
        self.assertEqual(len(first['Tags']), 2)
        self.assertTrue(first['HasMoreTags'])
        rest = self.kinesis.list_tags_for_stream(StreamName=name,
                                                 ExclusiveStartTagKey=first['Tags'][-1]['Key'])
        self.assertEqual(len(rest['Tags']), 1)
        self.assertEqual({t['Key'] for t in first['Tags'] + rest['Tags']}, {'team', 'env', 'tier'})
        self.kinesis.add_tags_to_stream(StreamName=name, Tags={'env': 'prod'})
        self.kinesis.remove_tags_from_stream(StreamName=name, TagKeys=['tier'])
        tags = self.kinesis.list_tags_for_stream(StreamName=name)['Tags']
        self.assertEqual({t['Key']: t['Value'] for t in tags}, {'team': 'logs', 'env': 'prod'})

    def test_retention(self):
        name = self.create_stream(shards=1)
        self.kinesis.increase_stream_retention_period(StreamName=name, RetentionPeriodHours=72)
        s = self.kinesis.describe_stream_summary(StreamName=name)['StreamDescriptionSummary']
        self.assertEqual(s['RetentionPeriodHours'], 72)
        # Increasing to less, or decreasing to more, is refused.
        self.assertEqual(error_code(self.kinesis.increase_stream_retention_period,
                                    StreamName=name, RetentionPeriodHours=48),
                         'InvalidArgumentException')
        self.assertEqual(error_code(self.kinesis.decrease_stream_retention_period,
                                    StreamName=name, RetentionPeriodHours=96),
                         'InvalidArgumentException')
        self.kinesis.decrease_stream_retention_period(StreamName=name, RetentionPeriodHours=24)
        s = self.kinesis.describe_stream(StreamName=name)['StreamDescription']
        self.assertEqual(s['RetentionPeriodHours'], 24)

    def test_delete(self):
        name = self.create_stream(shards=1)
        self.kinesis.delete_stream(StreamName=name)
        self.assertEqual(error_code(self.kinesis.describe_stream_summary, StreamName=name),
                         'ResourceNotFoundException')
        self.assertNotIn(name, self.kinesis.list_streams()['StreamNames'])
        self.assertEqual(error_code(self.kinesis.delete_stream, StreamName=name),
                         'ResourceNotFoundException')
        # The name can be used again.
        self.create_stream(shards=1, name=name)
        self.kinesis.delete_stream(StreamName=name)
        if harness.has_input(self.kinesis, 'DeleteStream', 'StreamARN'):
            self.create_stream(shards=1, name=name)
            self.kinesis.delete_stream(StreamARN=self.arn(name))
            self.assertEqual(error_code(self.kinesis.describe_stream_summary, StreamName=name),
                             'ResourceNotFoundException')

    def test_errors(self):
        name = self.create_stream(shards=1)
        k = self.kinesis
        self.assertEqual(error_code(k.create_stream, StreamName=name, ShardCount=1),
                         'ResourceInUseException')
        self.assertEqual(error_code(k.describe_stream, StreamName='absent-stream'),
                         'ResourceNotFoundException')
        self.assertEqual(error_code(k.put_record, StreamName='absent-stream', PartitionKey='k', Data=b'x'),
                         'ResourceNotFoundException')
        self.assertEqual(error_code(k.create_stream, StreamName='bad name!', ShardCount=1),
                         'ValidationException')
        # A PROVISIONED stream needs its ShardCount.
        self.assertEqual(error_code(k.create_stream, StreamName=self.unique('noshards'),
                                    StreamModeDetails={'StreamMode': 'PROVISIONED'}),
                         'InvalidArgumentException')
        # Past the model's bounds (boto3's own checks off, so the server answers).
        raw = self.daemon.client('kinesis', parameter_validation=False)
        self.assertEqual(error_code(raw.create_stream, StreamName=self.unique('zero'), ShardCount=0),
                         'ValidationException')
        self.assertEqual(error_code(raw.list_streams, Limit=0), 'ValidationException')
        e = None
        try:
            k.describe_stream(StreamName='absent-stream')
        except k.exceptions.ResourceNotFoundException as caught:
            e = caught
        self.assertIsNotNone(e, 'the modeled exception class is raised')
        self.assertTrue(re.search('absent-stream', e.response['Error']['Message']))


if __name__ == '__main__':
    harness.main()
