"""Records through boto3: PutRecord / PutRecords, every shard iterator type, GetRecords reading
every record back once byte for byte, sequence numbers as Kinesis makes them (decimal, unique in
the stream, increasing in a shard), the 1 MiB record limit counting the partition key, and
SequenceNumberForOrdering."""
import datetime
import os
import time

import harness
from harness import error_code

MIB = 1 << 20


class Records(harness.DaemonTestCase):

    def put_batch(self, name, count, tag):
        """PutRecords of `count` records (binary data, keys spread over the hash space); returns
        [(key, data, shard id, sequence number)] in put order."""
        records = [{'PartitionKey': f'{tag}-{i}',
                    'Data': f'{tag}-{i}:'.encode() + os.urandom(8 + i % 64) + b'\x00\xff'}
                   for i in range(count)]
        r = self.kinesis.put_records(StreamName=name, Records=records)
        self.assertEqual(r['FailedRecordCount'], 0)
        self.assertEqual(len(r['Records']), count)
        return [(rec['PartitionKey'], rec['Data'], out['ShardId'], out['SequenceNumber'])
                for rec, out in zip(records, r['Records'])]

    def test_put_records_sequence_numbers(self):
        name = self.create_stream(shards=2)
        puts = self.put_batch(name, 500, 'seq')
        shards = {p[2] for p in puts}
        self.assertEqual(shards, {'shardId-000000000000', 'shardId-000000000001'})
        for p in puts:
            self.assertRegex(p[3], r'^[0-9]+$', 'a decimal sequence number')
        for shard in shards:
            seqs = [int(p[3]) for p in puts if p[2] == shard]
            self.assertEqual(seqs, sorted(seqs), f'increasing within {shard}')
            self.assertEqual(len(set(seqs)), len(seqs))
        # Kinesis's sequence numbers are unique within the stream, not only within a shard.
        self.assertEqual(len({p[3] for p in puts}), 500, 'every sequence number distinct')

    def test_get_records_reads_every_record_once(self):
        name = self.create_stream(shards=2)
        one = self.kinesis.put_record(StreamName=name, PartitionKey='single', Data=b'\x00one\xff')
        self.assertEqual(one['EncryptionType'], 'NONE')
        puts = [('single', b'\x00one\xff', one['ShardId'], one['SequenceNumber'])]
        puts += self.put_batch(name, 500, 'all')
        want = {(p[2], p[3]): p for p in puts}
        got = {}
        for shard in self.shard_ids(name):
            records, last = self.read_shard(name, shard)
            self.assertIn('NextShardIterator', last, 'an open shard goes on')
            self.assertEqual(last['MillisBehindLatest'], 0)
            for rec in records:
                key = (shard, rec['SequenceNumber'])
                self.assertNotIn(key, got, f'{key} read twice')
                got[key] = rec
            seqs = [int(r['SequenceNumber']) for r in records]
            self.assertEqual(seqs, sorted(seqs))
        self.assertEqual(set(got), set(want), 'every record read back')
        for key, rec in got.items():
            self.assertEqual(rec['Data'], want[key][1])
            self.assertEqual(rec['PartitionKey'], want[key][0])
            self.assertIsInstance(rec['ApproximateArrivalTimestamp'], datetime.datetime)
            self.assertIsNotNone(rec['ApproximateArrivalTimestamp'].tzinfo)
            age = datetime.datetime.now(datetime.timezone.utc) - rec['ApproximateArrivalTimestamp']
            self.assertLess(abs(age.total_seconds()), 120)

    def test_iterator_types(self):
        name = self.create_stream(shards=1)
        shard = 'shardId-000000000000'
        first = [self.kinesis.put_record(StreamName=name, PartitionKey='k', Data=f'a{i}'.encode())
                 for i in range(5)]
        at = first[2]['SequenceNumber']
        records, _ = self.read_shard(name, shard, 'AT_SEQUENCE_NUMBER', StartingSequenceNumber=at)
        self.assertEqual([r['Data'] for r in records], [b'a2', b'a3', b'a4'])
        records, _ = self.read_shard(name, shard, 'AFTER_SEQUENCE_NUMBER', StartingSequenceNumber=at)
        self.assertEqual([r['Data'] for r in records], [b'a3', b'a4'])
        records, _ = self.read_shard(name, shard, 'TRIM_HORIZON')
        self.assertEqual([r['Data'] for r in records], [f'a{i}'.encode() for i in range(5)])

        # AT_TIMESTAMP (boto3 sends whole seconds): records put 2 s after the first batch.
        time.sleep(2.0)
        stamp = datetime.datetime.now(datetime.timezone.utc)
        for i in range(3):
            self.kinesis.put_record(StreamName=name, PartitionKey='k', Data=f'b{i}'.encode())
        records, _ = self.read_shard(name, shard, 'AT_TIMESTAMP', Timestamp=stamp)
        self.assertEqual([r['Data'] for r in records], [b'b0', b'b1', b'b2'])

        # LATEST: only what is put after the iterator.
        it = self.kinesis.get_shard_iterator(StreamName=name, ShardId=shard,
                                             ShardIteratorType='LATEST')['ShardIterator']
        r = self.kinesis.get_records(ShardIterator=it)
        self.assertEqual(r['Records'], [])
        self.kinesis.put_record(StreamName=name, PartitionKey='k', Data=b'late')
        r = self.kinesis.get_records(ShardIterator=r['NextShardIterator'])
        self.assertEqual([x['Data'] for x in r['Records']], [b'late'])

    def test_iterator_errors(self):
        name = self.create_stream(shards=2)
        puts = self.put_batch(name, 40, 'err')
        by_shard = {}
        for p in puts:
            by_shard.setdefault(p[2], p[3])
        self.assertEqual(len(by_shard), 2)
        # A sequence number of the other shard is refused, as by Kinesis.
        for kind in ('AT_SEQUENCE_NUMBER', 'AFTER_SEQUENCE_NUMBER'):
            with self.subTest(kind=kind):
                self.assertEqual(error_code(self.kinesis.get_shard_iterator, StreamName=name,
                                            ShardId='shardId-000000000000', ShardIteratorType=kind,
                                            StartingSequenceNumber=by_shard['shardId-000000000001']),
                                 'InvalidArgumentException')
        self.assertEqual(error_code(self.kinesis.get_shard_iterator, StreamName=name,
                                    ShardId='shardId-000000000009', ShardIteratorType='LATEST'),
                         'ResourceNotFoundException')
        self.assertEqual(error_code(self.kinesis.get_shard_iterator, StreamName=name,
                                    ShardId='shardId-000000000000',
                                    ShardIteratorType='AT_SEQUENCE_NUMBER'),
                         'InvalidArgumentException')
        self.assertEqual(error_code(self.kinesis.get_records, ShardIterator='not-an-iterator'),
                         'InvalidArgumentException')

    def test_record_size_limit_counts_the_partition_key(self):
        # A provisioned stream takes 1 MiB/s per shard, as Kinesis: one large record per shard
        # (ExplicitHashKey), the refused calls first.
        name = self.create_stream(shards=2)
        first, second = '0', str(2**127)
        # 1 MiB of data and a 1-byte key is over: Kinesis refuses the call (the data alone passes
        # the model's length constraint, so the service answers InvalidArgumentException; a
        # ValidationException is accepted too).
        refused = ('InvalidArgumentException', 'ValidationException')
        self.assertIn(error_code(self.kinesis.put_record, StreamName=name, PartitionKey='k',
                                 ExplicitHashKey=first, Data=b'\x03' * MIB), refused)
        self.assertIn(error_code(self.kinesis.put_records, StreamName=name, Records=[
            {'PartitionKey': 'k', 'ExplicitHashKey': second, 'Data': b'\x04' * MIB}]), refused)
        # Exactly 1 MiB of data + key is accepted and read back whole.
        ok = self.kinesis.put_record(StreamName=name, PartitionKey='k', ExplicitHashKey=first,
                                     Data=b'\x01' * (MIB - 1))
        self.assertEqual(ok['ShardId'], 'shardId-000000000000')
        ok = self.kinesis.put_records(StreamName=name, Records=[
            {'PartitionKey': 'kk', 'ExplicitHashKey': second, 'Data': b'\x02' * (MIB - 2)}])
        self.assertEqual(ok['FailedRecordCount'], 0, ok['Records'])
        self.assertEqual(ok['Records'][0]['ShardId'], 'shardId-000000000001')
        for shard, want in (('shardId-000000000000', b'\x01' * (MIB - 1)),
                            ('shardId-000000000001', b'\x02' * (MIB - 2))):
            records, _ = self.read_shard(name, shard)
            self.assertEqual(len(records), 1, 'nothing stored by the refused calls')
            self.assertTrue(records[0]['Data'] == want, 'the record read back whole')

    def test_sequence_number_for_ordering(self):
        name = self.create_stream(shards=4)
        prev = self.kinesis.put_record(StreamName=name, PartitionKey='same', Data=b'0')
        for i in range(1, 6):
            r = self.kinesis.put_record(StreamName=name, PartitionKey='same', Data=str(i).encode(),
                                        SequenceNumberForOrdering=prev['SequenceNumber'])
            self.assertEqual(r['ShardId'], prev['ShardId'])
            self.assertGreater(int(r['SequenceNumber']), int(prev['SequenceNumber']))
            prev = r
        self.assertEqual(error_code(self.kinesis.put_record, StreamName=name, PartitionKey='same',
                                    Data=b'x', SequenceNumberForOrdering='not-a-number'),
                         'ValidationException')
        records, _ = self.read_shard(name, prev['ShardId'])
        self.assertEqual([r['Data'] for r in records], [str(i).encode() for i in range(6)])


if __name__ == '__main__':
    harness.main()
