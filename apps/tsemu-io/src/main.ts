import { main } from '@tsemu/qemu-io';

process.exitCode = await main(process.argv.slice(2));
