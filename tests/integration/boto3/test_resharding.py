"""Resharding through boto3: SplitShard, MergeShards, UpdateShardCount; a parent read to its end
names its children (ChildShards) and has no NextShardIterator; children's sequence numbers are
above their parents'."""
import harness
from harness import error_code

HALF = str(2**127)


class Resharding(harness.DaemonTestCase):

    def put(self, name, tag, count):
        return [self.kinesis.put_record(StreamName=name, PartitionKey=f'{tag}-{i}',
                                        Data=f'{tag}-{i}'.encode()) for i in range(count)]

    def shards(self, name):
        return {s['ShardId']: s for s in self.kinesis.list_shards(StreamName=name)['Shards']}

    def test_split_then_merge(self):
        name = self.create_stream(shards=1)
        parent = 'shardId-000000000000'
        old = self.put(name, 'old', 20)
        self.kinesis.split_shard(StreamName=name, ShardToSplit=parent, NewStartingHashKey=HALF)
        shards = self.shards(name)
        self.assertEqual(len(shards), 3)
        self.assertIn('EndingSequenceNumber', shards[parent]['SequenceNumberRange'], 'parent closed')
        children = sorted(s for s in shards if s != parent)
        for c in children:
            self.assertEqual(shards[c]['ParentShardId'], parent)
            self.assertNotIn('EndingSequenceNumber', shards[c]['SequenceNumberRange'])
        self.assertEqual(shards[children[0]]['HashKeyRange']['EndingHashKey'], str(2**127 - 1))
        self.assertEqual(shards[children[1]]['HashKeyRange']['StartingHashKey'], HALF)
        s = self.kinesis.describe_stream_summary(StreamName=name)['StreamDescriptionSummary']
        self.assertEqual(s['OpenShardCount'], 2)

        # The parent read to its end: its records, then its children and no next iterator.
        records, last = self.read_shard(name, parent)
        self.assertEqual([r['Data'] for r in records], [f'old-{i}'.encode() for i in range(20)])
        self.assertNotIn('NextShardIterator', last)
        self.assertEqual(sorted(c['ShardId'] for c in last['ChildShards']), children)
        for c in last['ChildShards']:
            self.assertEqual(c['ParentShards'], [parent])
            self.assertIn('StartingHashKey', c['HashKeyRange'])

        new = self.put(name, 'new', 40)
        self.assertEqual({p['ShardId'] for p in new}, set(children))
        top_parent = max(int(p['SequenceNumber']) for p in old)
        for p in new:
            self.assertGreater(int(p['SequenceNumber']), top_parent,
                               "a child's sequence numbers are above its parent's")
        # A closed shard cannot be split again.
        self.assertEqual(error_code(self.kinesis.split_shard, StreamName=name, ShardToSplit=parent,
                                    NewStartingHashKey=HALF), 'ResourceInUseException')

        # Merge the two children back.
        self.kinesis.merge_shards(StreamName=name, ShardToMerge=children[0],
                                  AdjacentShardToMerge=children[1])
        shards = self.shards(name)
        self.assertEqual(len(shards), 4)
        merged = [s for s in shards.values() if 'EndingSequenceNumber' not in s['SequenceNumberRange']]
        self.assertEqual(len(merged), 1)
        merged = merged[0]
        self.assertEqual({merged['ParentShardId'], merged['AdjacentParentShardId']}, set(children))
        self.assertEqual(merged['HashKeyRange'], {'StartingHashKey': '0',
                                                  'EndingHashKey': str(2**128 - 1)})
        for c in children:
            records, last = self.read_shard(name, c)
            self.assertEqual([r['Data'] for r in records],
                             [f'new-{i}'.encode() for i, p in enumerate(new) if p['ShardId'] == c])
            self.assertNotIn('NextShardIterator', last)
            self.assertEqual([x['ShardId'] for x in last['ChildShards']], [merged['ShardId']])
            self.assertEqual(sorted(last['ChildShards'][0]['ParentShards']), children)
        after = self.put(name, 'after', 10)
        self.assertEqual({p['ShardId'] for p in after}, {merged['ShardId']})
        top_children = max(int(p['SequenceNumber']) for p in new)
        self.assertGreater(min(int(p['SequenceNumber']) for p in after), top_children)
        records, last = self.read_shard(name, merged['ShardId'])
        self.assertEqual([r['Data'] for r in records], [f'after-{i}'.encode() for i in range(10)])
        self.assertIn('NextShardIterator', last)

    def test_merge_errors(self):
        name = self.create_stream(shards=3)
        self.assertEqual(error_code(self.kinesis.merge_shards, StreamName=name,
                                    ShardToMerge='shardId-000000000000',
                                    AdjacentShardToMerge='shardId-000000000002'),
                         'InvalidArgumentException')
        self.assertEqual(error_code(self.kinesis.merge_shards, StreamName=name,
                                    ShardToMerge='shardId-000000000000',
                                    AdjacentShardToMerge='shardId-000000000007'),
                         'ResourceNotFoundException')
        self.assertEqual(error_code(self.kinesis.split_shard, StreamName=name,
                                    ShardToSplit='shardId-000000000000', NewStartingHashKey='0'),
                         'InvalidArgumentException')

    def test_update_shard_count(self):
        name = self.create_stream(shards=2)
        old = self.put(name, 'old', 30)
        r = self.kinesis.update_shard_count(StreamName=name, TargetShardCount=4,
                                            ScalingType='UNIFORM_SCALING')
        self.assertEqual((r['StreamName'], r['CurrentShardCount'], r['TargetShardCount']),
                         (name, 2, 4))
        s = self.kinesis.describe_stream_summary(StreamName=name)['StreamDescriptionSummary']
        self.assertEqual(s['OpenShardCount'], 4)
        shards = self.shards(name)
        open_ids = {i for i, s in shards.items() if 'EndingSequenceNumber' not in s['SequenceNumberRange']}
        self.assertEqual(len(open_ids), 4)
        # The open shards cover the hash space without a gap.
        ranges = sorted((int(shards[i]['HashKeyRange']['StartingHashKey']),
                         int(shards[i]['HashKeyRange']['EndingHashKey'])) for i in open_ids)
        self.assertEqual(ranges[0][0], 0)
        self.assertEqual(ranges[-1][1], 2**128 - 1)
        for (_, hi), (lo, _) in zip(ranges, ranges[1:]):
            self.assertEqual(lo, hi + 1)
        new = self.put(name, 'new', 60)
        self.assertTrue({p['ShardId'] for p in new} <= open_ids)
        top_old = max(int(p['SequenceNumber']) for p in old)
        self.assertGreater(min(int(p['SequenceNumber']) for p in new), top_old)
        # Every record once, across closed and open shards.
        data = []
        for shard in shards:
            records, _ = self.read_shard(name, shard)
            data += [r['Data'] for r in records]
        self.assertEqual(sorted(data), sorted([f'old-{i}'.encode() for i in range(30)] +
                                              [f'new-{i}'.encode() for i in range(60)]))
        # Past double the open shards: LimitExceededException, as Kinesis.
        self.assertEqual(error_code(self.kinesis.update_shard_count, StreamName=name,
                                    TargetShardCount=9, ScalingType='UNIFORM_SCALING'),
                         'LimitExceededException')


if __name__ == '__main__':
    harness.main()
