// librdkafka's mock cluster for the kafka tests: the kafka_mock_cluster helper (three brokers on
// loopback ports it picks), serving while its stdin is open.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

// Starts the helper with `topic` (`partitions`, `replicas`); `children` collects it for the
// test's cleanup. Resolves to {bootstrap, command(line), child}: `command` sends a helper command
// (TOPIC, DOWN, UP, ERRORS) and checks its answer.
export async function startCluster(mockBin, children, topic, partitions, replicas) {
  const child = spawn(mockBin, [topic, String(partitions), String(replicas)],
    { stdio: ['pipe', 'pipe', 'inherit'] });
  children.push(child);
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const first = await Promise.race([
    lines.next(),
    new Promise((_, reject) => child.once('exit',
      (code) => reject(new Error(`mock cluster exited with ${code}`)))),
  ]);
  const m = /^BOOTSTRAP (\S+)$/.exec(first.value);
  if (!m) throw new Error(`unexpected mock cluster output: ${first.value}`);
  const command = async (line) => {
    child.stdin.write(line + '\n');
    const answer = await lines.next();
    assert.equal(answer.value, 'OK', `mock cluster: ${line}`);
  };
  return { bootstrap: m[1], command, child };
}
