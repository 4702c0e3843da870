import { main } from '@tsemu/qemu-img';

process.exitCode = await main(process.argv.slice(2));
