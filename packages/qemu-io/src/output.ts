// Buffered stdout (benchmarks print two lines per op) and unbuffered stderr.
// stdout is flushed before anything goes to stderr, as on a terminal.

export interface TextSink {
  write(chunk: string): unknown;
}

export interface IoStreams {
  stdout: TextSink;
  stderr: TextSink;
  stdin?: AsyncIterable<string | Uint8Array>;
}

const FLUSH_AT = 1 << 16;

export class Output {
  private chunks: string[] = [];
  private size = 0;

  constructor(private readonly streams: IoStreams) {}

  /** Text for stdout (caller supplies newlines). */
  out(text: string): void {
    this.chunks.push(text);
    this.size += text.length;
    if (this.size >= FLUSH_AT) this.flush();
  }

  /** One line for stderr. */
  err(line: string): void {
    this.flush();
    this.streams.stderr.write(`${line}\n`);
  }

  flush(): void {
    if (this.chunks.length === 0) return;
    const text = this.chunks.length === 1 ? this.chunks[0] : this.chunks.join('');
    this.chunks = [];
    this.size = 0;
    this.streams.stdout.write(text);
  }
}
