// main() in-process with captured output, for the tests that drive qemu-img
// commands without spawning a tool.
import { main } from '../src/index.js';

export async function runMain(argv: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) } });
  return { stdout, stderr, code };
}
