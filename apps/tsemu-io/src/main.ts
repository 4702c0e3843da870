import { main } from '@tsemu/qemu-io';

// No top-level await: the built app is a CommonJS bundle (scripts/tsup-app.ts).
void main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
