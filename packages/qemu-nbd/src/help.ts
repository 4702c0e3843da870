// --help and --version in qemu-nbd 7.2's layout. The one deliberate
// difference is said where it matters: without -b we listen on localhost.

export const QEMU_COMPAT_VERSION = '7.2.22';
export const TSEMU_VERSION = '0.1.0';
export const DEFAULT_BIND = '127.0.0.1';

export function versionText(): string {
  return (
    `qemu-nbd ${QEMU_COMPAT_VERSION} (tsemu-nbd ${TSEMU_VERSION})\n` +
    'tsemu: QEMU\'s NBD server rebuilt in TypeScript\n'
  );
}

export function helpText(): string {
  return `Usage: qemu-nbd [OPTIONS] FILE
  or:  qemu-nbd -L [OPTIONS]
QEMU Disk Network Block Device Utility

  -h, --help                display this help and exit
  -V, --version             output version information and exit

Connection properties:
  -p, --port=PORT           port to listen on (default \`10809')
  -b, --bind=IFACE          interface to bind to (default \`${DEFAULT_BIND}': unlike
                            qemu-nbd, tsemu-nbd listens on localhost only
                            unless -b names another address)
  -k, --socket=PATH         path to the unix socket
  -e, --shared=NUM          device can be shared by NUM clients (default '1')
  -t, --persistent          don't exit on the last connection
  -v, --verbose             display extra debugging information
  -x, --export-name=NAME    expose export by name (default is empty string)
  -D, --description=TEXT    export a human-readable description

Exposing part of the image:
  -o, --offset=OFFSET       offset into the image
  -A, --allocation-depth    expose the allocation depth
  -B, --bitmap=NAME         expose a persistent dirty bitmap

General purpose options:
  -L, --list                list exports available from another NBD server
  --object type,id=ID,...   define an object (tls-creds-x509, tls-creds-psk,
                            authz-simple, authz-list)
  --tls-creds=ID            use id of an earlier --object to provide TLS
  --tls-authz=ID            use id of an earlier --object to provide
                            authorization
  -T, --trace [[enable=]<pattern>][,events=<file>][,file=<file>]
                            specify tracing options (accepted, no events)
  --fork                    fork off the server process and exit the parent
                            once the server is running
  --pid-file=PATH           store the server's process ID in the given file
  --selinux-label=LABEL     (not supported)

Kernel NBD client support:
  -c, --connect=DEV         not supported: needs the kernel NBD driver
  -d, --disconnect          not supported: needs the kernel NBD driver

Block device options:
  -f, --format=FORMAT       set image format (raw, qcow2, ...)
  -r, --read-only           export read-only
  -s, --snapshot            use FILE as an external snapshot, create a temporary
                            file with backing_file=FILE, redirect the write to
                            the temporary one
  -l, --load-snapshot=SNAPSHOT_PARAM
                            load an internal snapshot inside FILE and export it
                            as an read-only device, SNAPSHOT_PARAM format is
                            'snapshot.id=[ID],snapshot.name=[NAME]', or
                            '[ID_OR_NAME]'
  -n, --nocache             disable host cache
      --cache=MODE          set cache mode used to access the disk image, the
                            valid options are: 'none', 'writeback' (default),
                            'writethrough', 'directsync' and 'unsafe'
      --aio=MODE            set AIO mode (native, io_uring or threads; accepted,
                            all behave alike)
      --discard=MODE        set discard mode (ignore, unmap)
      --detect-zeroes=MODE  set detect-zeroes mode (off, on, unmap)
      --image-opts          treat FILE as a full set of image options

See <https://qemu.org/contribute/report-a-bug> for how to report bugs.
More information on the QEMU project at <https://qemu.org>.
`;
}
