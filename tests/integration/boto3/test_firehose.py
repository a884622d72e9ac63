"""Firehose through boto3: a Direct PUT delivery stream defined in the config (`deliveries:` with
`direct_put: true` and a file sink) is listed and described, and every record put with PutRecord /
PutRecordBatch lands exactly once in the file sink's objects; a delivery stream made with
CreateDeliveryStream (ExtendedS3 destination) delivers to an S3 endpoint on loopback (a
standard-library stub that keeps the objects PUT to it)."""
import http.server
import os
import re
import threading
import time

import harness
from harness import error_code


class S3Stub(http.server.ThreadingHTTPServer):
    """Keeps the objects PUT to it (path -> [body, Authorization header]); answers a bucket's
    listing with an empty one."""

    def __init__(self):
        self.objects = {}
        self.lock = threading.Lock()
        super().__init__(('127.0.0.1', 0), S3Handler)


class S3Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, *args):
        pass

    def reply(self, status, body=b'', headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        if self.command != 'HEAD':
            self.wfile.write(body)

    def do_PUT(self):
        body = self.rfile.read(int(self.headers.get('Content-Length') or 0))
        with self.server.lock:
            self.server.objects.setdefault(self.path, []).append(
                (body, self.headers.get('Authorization', '')))
        self.reply(200, headers=[('ETag', '"stub"')])

    def do_GET(self):
        if self.path.strip('/').count('/') == 0:
            self.reply(200, b'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult '
                       b'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><IsTruncated>false'
                       b'</IsTruncated></ListBucketResult>', [('Content-Type', 'application/xml')])
        else:
            self.reply(404)

    do_HEAD = do_GET

    def do_POST(self):
        self.rfile.read(int(self.headers.get('Content-Length') or 0))
        self.reply(501)


class Firehose(harness.DaemonTestCase):
    extra_yaml = '''deliveries:
  - name: direct
    direct_put: true
    concurrency: 2
    buffer: {size: 1MiB, interval: 0s}
    sink:
      type: file
      path: ./out
'''

    @classmethod
    def setUpClass(cls):
        cls.s3 = S3Stub()
        threading.Thread(target=cls.s3.serve_forever, daemon=True).start()
        cls.addClassCleanup(cls.s3.server_close)
        cls.addClassCleanup(cls.s3.shutdown)
        cls.extra_yaml = Firehose.extra_yaml + f'''firehose_api:
  s3:
    endpoint: http://127.0.0.1:{cls.s3.server_port}
    force_path_style: true
    access_key_id: AKIDS3STUB
    secret_access_key: s3-stub-secret
'''
        super().setUpClass()
        cls.firehose = cls.daemon.client('firehose')

    def delivered(self):
        """seq number -> how many times it is in the file sink's objects."""
        counts = {}
        for root, dirs, files in os.walk(os.path.join(self.daemon.dir, 'out')):
            dirs[:] = [d for d in dirs if not d.startswith('.')]
            for f in files:
                if f.startswith('.'):
                    continue
                with open(os.path.join(root, f), 'rb') as fh:
                    for m in re.finditer(rb'boto3-seq=(\d+)\n', fh.read()):
                        n = int(m.group(1))
                        counts[n] = counts.get(n, 0) + 1
        return counts

    def test_list_and_describe(self):
        r = self.firehose.list_delivery_streams()
        self.assertIn('direct', r['DeliveryStreamNames'])
        self.assertFalse(r['HasMoreDeliveryStreams'])
        self.assertIn('direct', self.firehose.list_delivery_streams(
            DeliveryStreamType='DirectPut')['DeliveryStreamNames'])
        d = self.firehose.describe_delivery_stream(DeliveryStreamName='direct')['DeliveryStreamDescription']
        self.assertEqual(d['DeliveryStreamName'], 'direct')
        self.assertEqual(d['DeliveryStreamStatus'], 'ACTIVE')
        self.assertEqual(d['DeliveryStreamType'], 'DirectPut')
        self.assertEqual(d['DeliveryStreamARN'],
                         f'arn:aws:firehose:us-east-1:{harness.ACCOUNT}:deliverystream/direct')
        self.assertEqual(len(d['Destinations']), 1)
        self.assertEqual(error_code(self.firehose.describe_delivery_stream,
                                    DeliveryStreamName='absent'), 'ResourceNotFoundException')

    def test_every_record_lands_once(self):
        seq = 0
        for _ in range(6):
            records = [{'Data': f'boto3-seq={seq + i}\n'.encode()} for i in range(500)]
            r = self.firehose.put_record_batch(DeliveryStreamName='direct', Records=records)
            seq += 500
            self.assertEqual(r['FailedPutCount'], 0)
            self.assertEqual(len(r['RequestResponses']), 500)
            self.assertTrue(all(e.get('RecordId') and 'ErrorCode' not in e
                                for e in r['RequestResponses']))
            self.assertEqual(len({e['RecordId'] for e in r['RequestResponses']}), 500)
        for _ in range(3):
            one = self.firehose.put_record(DeliveryStreamName='direct',
                                           Record={'Data': f'boto3-seq={seq}\n'.encode()})
            seq += 1
            self.assertTrue(one['RecordId'])
            self.assertFalse(one['Encrypted'])

        deadline = time.monotonic() + 30
        counts = self.delivered()
        while len(counts) < seq and time.monotonic() < deadline:
            time.sleep(0.1)
            counts = self.delivered()
        self.assertEqual(len(counts), seq, 'every record delivered')
        # Let a late duplicate show before counting.
        time.sleep(0.5)
        counts = self.delivered()
        self.assertEqual(sorted(counts), list(range(seq)))
        dup = {n: c for n, c in counts.items() if c != 1}
        self.assertEqual(dup, {}, 'records delivered more than once')

    def test_create_delivery_stream_to_s3(self):
        # IntervalInSeconds 0 (no buffering) is in Firehose's current model; older botocore
        # models say 60..900, so their client-side check is off for this call.
        raw = self.daemon.client('firehose', parameter_validation=False)
        made = raw.create_delivery_stream(
            DeliveryStreamName='to-s3', DeliveryStreamType='DirectPut',
            ExtendedS3DestinationConfiguration={
                'RoleARN': f'arn:aws:iam::{harness.ACCOUNT}:role/firehose',
                'BucketARN': 'arn:aws:s3:::boto3-bucket', 'Prefix': 'logs/',
                'BufferingHints': {'SizeInMBs': 1, 'IntervalInSeconds': 0}})
        self.assertEqual(made['DeliveryStreamARN'],
                         f'arn:aws:firehose:us-east-1:{harness.ACCOUNT}:deliverystream/to-s3')
        self.assertEqual(error_code(raw.create_delivery_stream, DeliveryStreamName='to-s3',
                                    DeliveryStreamType='DirectPut'), 'ResourceInUseException')
        self.assertIn('to-s3', self.firehose.list_delivery_streams()['DeliveryStreamNames'])
        d = self.firehose.describe_delivery_stream(DeliveryStreamName='to-s3')['DeliveryStreamDescription']
        self.assertEqual((d['DeliveryStreamStatus'], d['DeliveryStreamType']), ('ACTIVE', 'DirectPut'))
        s3 = d['Destinations'][0]['ExtendedS3DestinationDescription']
        self.assertEqual((s3['BucketARN'], s3['Prefix']), ('arn:aws:s3:::boto3-bucket', 'logs/'))

        total = 0
        for _ in range(3):
            r = self.firehose.put_record_batch(DeliveryStreamName='to-s3', Records=[
                {'Data': f's3-seq={total + i}\n'.encode()} for i in range(500)])
            self.assertEqual(r['FailedPutCount'], 0)
            total += 500
        self.firehose.put_record(DeliveryStreamName='to-s3', Record={'Data': f's3-seq={total}\n'.encode()})
        total += 1

        def counts():
            c = {}
            with self.s3.lock:
                puts = [(path, put) for path, ps in self.s3.objects.items() for put in ps]
            for path, (body, auth) in puts:
                self.assertTrue(path.startswith('/boto3-bucket/logs/'), path)
                self.assertIn('Credential=AKIDS3STUB/', auth, 'signed with the firehose_api.s3 key')
                for m in re.finditer(rb's3-seq=(\d+)\n', body):
                    c[int(m.group(1))] = c.get(int(m.group(1)), 0) + 1
            return c

        deadline = time.monotonic() + 30
        got = counts()
        while len(got) < total and time.monotonic() < deadline:
            time.sleep(0.1)
            got = counts()
        time.sleep(0.5)  # let a late duplicate show
        got = counts()
        self.assertEqual(sorted(got), list(range(total)), 'every record in an S3 object')
        self.assertEqual({n: c for n, c in got.items() if c != 1}, {}, 'no record twice')

        self.firehose.delete_delivery_stream(DeliveryStreamName='to-s3')
        self.assertEqual(error_code(self.firehose.describe_delivery_stream, DeliveryStreamName='to-s3'),
                         'ResourceNotFoundException')

    def test_errors(self):
        self.assertEqual(error_code(self.firehose.put_record, DeliveryStreamName='absent',
                                    Record={'Data': b'x'}), 'ResourceNotFoundException')
        raw = self.daemon.client('firehose', parameter_validation=False)
        self.assertEqual(error_code(raw.put_record_batch, DeliveryStreamName='direct',
                                    Records=[{'Data': b'x'}] * 501), 'ValidationException')
        self.assertEqual(error_code(self.firehose.put_record, DeliveryStreamName='direct',
                                    Record={'Data': b'\x01' * 1024001}), 'ValidationException')
        self.assertEqual(error_code(self.firehose.put_record_batch, DeliveryStreamName='direct',
                                    Records=[{'Data': b'\x02' * 1024000}] * 5),
                         'InvalidArgumentException')
        self.assertEqual(error_code(self.firehose.delete_delivery_stream, DeliveryStreamName='direct'),
                         'ResourceInUseException')


if __name__ == '__main__':
    harness.main()
