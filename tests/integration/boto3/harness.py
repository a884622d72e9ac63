"""Shared by the boto3 integration tests: runs the built daemon (`sluice run`, the binary named by
SLUICE_BIN) in a temporary directory with its Kinesis/Firehose API on a free loopback port and
SigV4 credentials, and builds boto3 clients for it.

A test script imports this module first: when boto3 cannot be imported it exits with SKIP (77),
which ctest reports as skipped (SKIP_RETURN_CODE).
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import warnings

SKIP = 77
try:
    import boto3
    import botocore.config
    import botocore.exceptions
except ImportError as e:  # pragma: no cover - depends on the machine
    print(f'boto3 is not available to {sys.executable}: {e}; skipping', file=sys.stderr)
    sys.exit(SKIP)

ACCESS_KEY_ID = 'AKIDSLUICETEST'
SECRET_ACCESS_KEY = 'sluice-test-secret'
REGION = 'us-east-1'
ACCOUNT = '000000000000'

# Loopback only: a proxy from the environment must not see the test's requests.
for _var in ('NO_PROXY', 'no_proxy'):
    os.environ[_var] = ','.join(filter(None, [os.environ.get(_var), '127.0.0.1', 'localhost']))
# No shared AWS config or credentials of the user may leak into the clients.
os.environ['AWS_CONFIG_FILE'] = os.devnull
os.environ['AWS_SHARED_CREDENTIALS_FILE'] = os.devnull
for _var in ('AWS_PROFILE', 'AWS_DEFAULT_PROFILE', 'AWS_ENDPOINT_URL'):
    os.environ.pop(_var, None)


def _die_with_parent():
    """In the daemon's child process: SIGKILL it when the test process dies (a killed or timed
    out test leaves no daemon behind)."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def free_port():
    """A loopback port free now (the daemon is told it in its config)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def has_input(client, operation, member):
    """Whether the installed botocore models `member` in `operation`'s input (older models lack
    the StreamARN parameters and ListStreams' NextToken)."""
    shape = client.meta.service_model.operation_model(operation).input_shape
    return shape is not None and member in shape.members


def has_output(client, operation, member):
    shape = client.meta.service_model.operation_model(operation).output_shape
    return shape is not None and member in shape.members


def error_code(fn, *args, **kwargs):
    """Runs fn and returns the error code boto3 reports (e.response['Error']['Code']); fails the
    test when the call succeeds."""
    try:
        fn(*args, **kwargs)
    except botocore.exceptions.ClientError as e:
        return e.response['Error']['Code']
    raise AssertionError(f'expected {getattr(fn, "__name__", fn)} to fail')


class Daemon:
    """The built daemon in a temporary directory: `extra_yaml` is appended to a config with the
    API (SigV4 with the test credentials) on a free loopback port."""

    def __init__(self, extra_yaml='', plugin_dir=None):
        self.bin = os.environ.get('SLUICE_BIN')
        if not self.bin:
            raise RuntimeError('SLUICE_BIN must name the sluice binary')
        self.plugin_dir = plugin_dir or os.environ.get('SLUICE_PLUGIN_DIR') or os.path.join(
            os.path.dirname(self.bin), 'plugins')
        self.dir = tempfile.mkdtemp(prefix='sluice-boto3-')
        self.extra_yaml = extra_yaml
        self.proc = None
        self.log = None
        self.started = False

    def start(self):
        # A port free a moment ago may be taken before the daemon binds it: try a few.
        for _ in range(3):
            self.port = free_port()
            self.endpoint = f'http://127.0.0.1:{self.port}'
            config = f'''data_dir: ./data
admin: {{listen: "127.0.0.1:0"}}
plugin_dirs: [{self.plugin_dir}]
broker:
  api:
    listen: 127.0.0.1:{self.port}
    workers: 2
    auth:
      - access_key_id: {ACCESS_KEY_ID}
        secret_access_key: {SECRET_ACCESS_KEY}
''' + self.extra_yaml
            path = os.path.join(self.dir, 'sluice.yaml')
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, 'w') as f:
                f.write(config)
            self.log = open(os.path.join(self.dir, 'daemon.log'), 'ab')
            self.proc = subprocess.Popen([self.bin, 'run', '-c', 'sluice.yaml'], cwd=self.dir,
                                         stdin=subprocess.DEVNULL, stdout=self.log,
                                         stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
            try:
                if self._wait_ready():
                    self.started = True
                    return self
            except BaseException:
                self.proc.kill()
                self.proc.wait()
                raise
            self.log.close()
        raise RuntimeError('the daemon did not start:\n' + self.log_text())

    def _wait_ready(self, timeout=20.0):
        probe = self.client('kinesis')
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                probe.list_streams(Limit=1)
                getattr(probe, 'close', lambda: None)()
                return True
            except (botocore.exceptions.EndpointConnectionError,
                    botocore.exceptions.ConnectionClosedError,
                    botocore.exceptions.ReadTimeoutError):
                time.sleep(0.05)
        raise RuntimeError('the daemon did not answer in time:\n' + self.log_text())

    def log_text(self):
        try:
            with open(os.path.join(self.dir, 'daemon.log'), 'rb') as f:
                return f.read()[-3000:].decode('utf-8', 'replace')
        except OSError:
            return ''

    def client(self, service, **config):
        """A boto3 client for the daemon: endpoint_url, us-east-1, the test credentials, no
        retries (failures show at once)."""
        options = dict(retries={'total_max_attempts': 1, 'mode': 'standard'},
                       connect_timeout=5, read_timeout=30)
        options.update(config)
        session = boto3.session.Session(aws_access_key_id=ACCESS_KEY_ID,
                                        aws_secret_access_key=SECRET_ACCESS_KEY,
                                        region_name=REGION)
        return session.client(service, endpoint_url=self.endpoint,
                              config=botocore.config.Config(**options))

    def stop(self):
        """SIGTERM; the daemon must exit 0. The directory is removed."""
        code = None
        try:
            if not self.started:
                return  # start() failed and said why
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    code = self.proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
                    raise AssertionError('the daemon did not stop within 20 s of SIGTERM:\n' +
                                         self.log_text())
            else:
                raise AssertionError(f'the daemon exited early ({self.proc.returncode}):\n' +
                                     self.log_text())
            if code != 0:
                raise AssertionError(f'the daemon exited {code} on SIGTERM:\n' + self.log_text())
        finally:
            if self.log:
                self.log.close()
            shutil.rmtree(self.dir, ignore_errors=True)


class DaemonTestCase(unittest.TestCase):
    """A test case class sharing one daemon (started once for the class)."""
    extra_yaml = ''

    @classmethod
    def setUpClass(cls):
        # Clients' pooled connections are closed when collected: not a fault of the test.
        warnings.filterwarnings('ignore', category=ResourceWarning)
        cls.daemon = Daemon(cls.extra_yaml)
        cls.addClassCleanup(cls.daemon.stop)  # also when setUpClass fails after this
        cls.daemon.start()
        cls.kinesis = cls.daemon.client('kinesis')

    _names = 0

    @classmethod
    def unique(cls, prefix):
        DaemonTestCase._names += 1
        return f'{prefix}-{os.getpid()}-{DaemonTestCase._names}'

    def create_stream(self, shards=None, mode=None, name=None):
        name = name or self.unique('s')
        args = {'StreamName': name}
        if shards is not None:
            args['ShardCount'] = shards
        if mode is not None:
            args['StreamModeDetails'] = {'StreamMode': mode}
        self.kinesis.create_stream(**args)
        return name

    def arn(self, name):
        return self.kinesis.describe_stream_summary(
            StreamName=name)['StreamDescriptionSummary']['StreamARN']

    def shard_ids(self, name):
        shards, token = [], None
        while True:
            r = (self.kinesis.list_shards(NextToken=token) if token
                 else self.kinesis.list_shards(StreamName=name))
            shards += r['Shards']
            token = r.get('NextToken')
            if not token:
                return [s['ShardId'] for s in shards]

    def read_shard(self, name, shard_id, iterator_type='TRIM_HORIZON', max_calls=200, **kwargs):
        """Reads a shard from `iterator_type` until it ends (NextShardIterator absent) or a call
        returns nothing and MillisBehindLatest is 0. Returns (records, last response)."""
        it = self.kinesis.get_shard_iterator(StreamName=name, ShardId=shard_id,
                                             ShardIteratorType=iterator_type,
                                             **kwargs)['ShardIterator']
        records = []
        for _ in range(max_calls):
            r = self.kinesis.get_records(ShardIterator=it, Limit=10000)
            records += r['Records']
            it = r.get('NextShardIterator')
            if it is None or (not r['Records'] and r.get('MillisBehindLatest') == 0):
                return records, r
        raise AssertionError(f'{shard_id} did not end in {max_calls} GetRecords calls')


def main():
    unittest.main(verbosity=2)
