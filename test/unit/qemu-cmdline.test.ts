import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  compareNatural,
  LIST_QEMU_PROCESSES_SCRIPT,
  parseProcessListing,
  summariesFromProcesses,
  type QemuProcess,
} from '../../electron/engine/hosts/discovery.js';
import { parseQemuCmdline, parseQemuOpts, splitProcCmdline } from '../../electron/engine/hosts/qemu-cmdline.js';
import { memoryLogger } from '../../electron/engine/log.js';
import { buildQemuArgs, qemuOptValue } from '../lab/vm-spec.js';

/** Splits a command line written the way `ps`/`qm showcmd` print it: single quotes group words. */
function words(cmdline: string): string[] {
  const out: string[] = [];
  const re = /'([^']*)'|(\S+)/g;
  for (const m of cmdline.matchAll(re)) out.push(m[1] ?? m[2] ?? '');
  return out;
}

const parse = (cmdline: string | string[], cwd?: string) =>
  parseQemuCmdline(typeof cmdline === 'string' ? words(cmdline) : cmdline, { fallbackName: 'pid-42', cwd: cwd ?? null });

// `qm showcmd 100` on Proxmox VE 8 (QEMU 8.1), trimmed of devices that do not matter here.
const PROXMOX = `/usr/bin/kvm -id 100 -name 'debian12,debug-threads=on' -no-shutdown
 -chardev 'socket,id=qmp,path=/var/run/qemu-server/100.qmp,server=on,wait=off' -mon 'chardev=qmp,mode=control'
 -chardev 'socket,id=qmp-event,path=/var/run/qmeventd.sock,reconnect=5' -mon 'chardev=qmp-event,mode=control'
 -pidfile /var/run/qemu-server/100.pid -daemonize -smbios 'type=1,uuid=7c6c2f3e-4a3c-4a2e-9d5e-0c1f3f0b5a11'
 -drive 'if=pflash,unit=0,format=raw,readonly=on,file=/usr/share/pve-edk2-firmware//OVMF_CODE_4M.secboot.fd'
 -drive 'if=pflash,unit=1,id=drive-efidisk0,format=raw,file=/dev/pve/vm-100-disk-0,size=540672'
 -smp '2,sockets=1,cores=2,maxcpus=2' -nodefaults -vnc 'unix:/var/run/qemu-server/100.vnc,password=on'
 -cpu host,+kvm_pv_eoi,+kvm_pv_unhalt -m 2048 -readconfig /usr/share/qemu-server/pve-q35-4.0.cfg
 -chardev 'socket,id=tpmchar,path=/var/run/qemu-server/100.swtpm' -tpmdev 'emulator,id=tpmdev,chardev=tpmchar'
 -device 'tpm-tis,tpmdev=tpmdev'
 -chardev 'socket,path=/var/run/qemu-server/100.qga,server=on,wait=off,id=qga0'
 -device 'virtio-serial,id=qga0,bus=pci.0,addr=0x8' -device 'virtserialport,chardev=qga0,name=org.qemu.guest_agent.0'
 -drive 'file=/var/lib/vz/template/iso/debian-12.iso,if=none,id=drive-ide2,media=cdrom,aio=io_uring'
 -device 'ide-cd,bus=ide.1,unit=0,drive=drive-ide2,id=ide2,bootindex=101'
 -drive 'file=/dev/pve/vm-100-disk-1,if=none,id=drive-scsi0,format=raw,cache=none,aio=io_uring,detect-zeroes=on'
 -device 'scsi-hd,bus=virtioscsi0.0,channel=0,scsi-id=0,lun=0,drive=drive-scsi0,id=scsi0,bootindex=100'
 -machine 'type=pc-q35-8.1+pve0'`;

// libvirt 9 with QEMU 7.2: monitor and agent sockets are passed as file descriptors; -device is JSON.
const LIBVIRT_FD = `/usr/bin/qemu-system-x86_64 -name guest=win10,debug-threads=on -S
 -object '{"qom-type":"secret","id":"masterKey0","format":"raw","file":"/var/lib/libvirt/qemu/domain-3-win10/master-key.aes"}'
 -machine pc-q35-7.2,usb=off,vmport=off,dump-guest-core=off,memory-backend=pc.ram -accel kvm -m 4096
 -no-user-config -nodefaults -chardev socket,id=charmonitor,fd=30,server=on,wait=off
 -mon chardev=charmonitor,id=monitor,mode=control -rtc base=localtime,driftfix=slew -no-shutdown
 -blockdev '{"driver":"file","filename":"/var/lib/libvirt/images/win10.qcow2","node-name":"libvirt-1-storage","auto-read-only":true}'
 -device '{"driver":"virtio-blk-pci","bus":"pci.4","addr":"0x0","drive":"libvirt-1-format","id":"virtio-disk0","bootindex":1}'
 -chardev socket,id=charchannel0,fd=34,server=on,wait=off
 -device '{"driver":"virtserialport","bus":"virtio-serial0.0","nr":1,"chardev":"charchannel0","id":"channel0","name":"org.qemu.guest_agent.0"}'
 -sandbox on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny -msg timestamp=on`;

// Older libvirt (before fd passing): paths, old-style flags.
const LIBVIRT_PATHS = `/usr/bin/qemu-system-x86_64 -name guest=db1,debug-threads=on -S
 -chardev socket,id=charmonitor,path=/var/lib/libvirt/qemu/domain-1-db1/monitor.sock,server,nowait
 -mon chardev=charmonitor,id=monitor,mode=control
 -chardev socket,id=charchannel0,path=/var/lib/libvirt/qemu/channel/target/domain-1-db1/org.qemu.guest_agent.0,server,nowait
 -device virtserialport,bus=virtio-serial0.0,nr=1,chardev=charchannel0,id=channel0,name=org.qemu.guest_agent.0`;

describe('parseQemuCmdline', () => {
  it('reads a Proxmox command line: VMID, name, the QMP server socket but not qmeventd (a client socket)', () => {
    expect(parse(PROXMOX)).toEqual({
      name: 'debian12',
      qmpSockets: ['/var/run/qemu-server/100.qmp'],
      guestAgentSocket: '/var/run/qemu-server/100.qga',
      proxmoxId: '100',
    });
  });

  it('reads libvirt: guest= name; fd-passed monitor and agent sockets cannot be reached', () => {
    expect(parse(LIBVIRT_FD)).toEqual({ name: 'win10', qmpSockets: [], guestAgentSocket: null, proxmoxId: null });
  });

  it('reads libvirt with socket paths and old-style server,nowait flags', () => {
    expect(parse(LIBVIRT_PATHS)).toEqual({
      name: 'db1',
      qmpSockets: ['/var/lib/libvirt/qemu/domain-1-db1/monitor.sock'],
      guestAgentSocket: '/var/lib/libvirt/qemu/channel/target/domain-1-db1/org.qemu.guest_agent.0',
      proxmoxId: null,
    });
  });

  it('reads a plain hand-written command line with -qmp unix:PATH,server,nowait', () => {
    const r = parse('qemu-system-x86_64 -enable-kvm -m 2G -name web -qmp unix:/run/vm.qmp,server,nowait -drive file=web.qcow2,if=virtio');
    expect(r).toEqual({ name: 'web', qmpSockets: ['/run/vm.qmp'], guestAgentSocket: null, proxmoxId: null });
  });

  it('accepts --option spellings and server=on/yes/true', () => {
    const r = parse('qemu-system-aarch64 --name arm1 --qmp unix:/run/a.qmp,server=yes,wait=off --chardev socket,id=m,path=/run/b.qmp,server=true --mon chardev=m,mode=control');
    expect(r.name).toBe('arm1');
    expect(r.qmpSockets).toEqual(['/run/a.qmp', '/run/b.qmp']);
  });

  it('unescapes doubled commas in names and paths', () => {
    expect(parse(['qemu', '-name', 'my,,vm', '-qmp', 'unix:/srv/vms/a,,b/vm.qmp,server=on,wait=off'])).toMatchObject({
      name: 'my,vm',
      qmpSockets: ['/srv/vms/a,b/vm.qmp'],
    });
    expect(parse(['qemu', '-name', 'guest=a,,b,debug-threads=on', '-chardev', 'socket,id=q,path=/x,,y.sock,server=on', '-mon', 'chardev=q,mode=control']))
      .toMatchObject({ name: 'a,b', qmpSockets: ['/x,y.sock'] });
  });

  it('keeps every QMP monitor in command-line order, skipping HMP monitors, clients, TCP and duplicates', () => {
    const r = parse([
      'qemu-system-x86_64',
      '-mon', 'chardev=late,mode=control', // defined further down: QEMU creates chardevs first
      '-qmp', 'unix:/run/a.qmp,server=on,wait=off',
      '-monitor', 'unix:/run/hmp.sock,server,nowait', // human monitor
      '-chardev', 'socket,id=hmp2,path=/run/hmp2.sock,server=on,wait=off',
      '-mon', 'chardev=hmp2', // mode defaults to readline: HMP
      '-chardev', 'socket,id=m2,path=/run/b.qmp,server=on,wait=off',
      '-mon', 'chardev=m2,mode=control',
      '-qmp-pretty', 'unix:/run/c.qmp,server,nowait',
      '-qmp', 'unix:/run/client.qmp', // no server: QEMU would connect out
      '-qmp', 'tcp:127.0.0.1:4444,server=on,wait=off',
      '-chardev', 'socket,id=abs,path=qmp-abstract,abstract=on,server=on',
      '-mon', 'chardev=abs,mode=control',
      '-qmp', 'chardev:m2', // the same socket again
      '-chardev', 'socket,id=late,path=/run/late.qmp,server=on,wait=off',
    ]);
    expect(r.qmpSockets).toEqual(['/run/late.qmp', '/run/a.qmp', '/run/b.qmp', '/run/c.qmp']);
  });

  it('takes the implied chardev key of -mon and -qmp chardev:ID', () => {
    const r = parse(['qemu', '-chardev', 'socket,id=m,path=/run/m.qmp,server=on', '-mon', 'm,mode=control', '-chardev', 'socket,id=n,path=/run/n.qmp,server=on', '-qmp', 'chardev:n']);
    expect(r.qmpSockets).toEqual(['/run/m.qmp', '/run/n.qmp']);
  });

  it('resolves relative socket paths against the working directory, and drops them without one', () => {
    const argv = ['qemu', '-name', 'rel', '-qmp', 'unix:vm.qmp,server=on,wait=off', '-chardev', 'socket,id=g,path=./vm.qga,server=on', '-device', 'virtserialport,chardev=g,name=org.qemu.guest_agent.0'];
    expect(parse(argv, '/srv/vms/rel')).toMatchObject({ qmpSockets: ['/srv/vms/rel/vm.qmp'], guestAgentSocket: '/srv/vms/rel/vm.qga' });
    expect(parse(argv)).toMatchObject({ qmpSockets: [], guestAgentSocket: null });
  });

  it('falls back to the caller\'s name without -name, or with an empty or key-only one', () => {
    expect(parse('qemu-system-x86_64 -m 512 -qmp unix:/run/x.qmp,server=on').name).toBe('pid-42');
    expect(parse(['qemu', '-name', '']).name).toBe('pid-42');
    expect(parse(['qemu', '-name', 'debug-threads=on']).name).toBe('pid-42');
    expect(parse(['qemu', '-name', 'process=qemu-vm7,guest=vm7']).name).toBe('vm7');
  });

  it('finds no monitor and no agent on a bare command line, and tolerates a trailing option without value', () => {
    expect(parse('qemu-system-x86_64 -nodefaults -m 128 -S -name')).toEqual({
      name: 'pid-42',
      qmpSockets: [],
      guestAgentSocket: null,
      proxmoxId: null,
    });
  });

  it('does not take a flag\'s neighbour or an unrelated virtserialport as an agent', () => {
    const r = parse([
      'qemu', '-S', '-name', 'n1',
      '-chardev', 'socket,id=c0,path=/run/console.sock,server=on,wait=off',
      '-device', 'virtserialport,chardev=c0,name=org.example.console',
      '-chardev', 'socket,id=ga,path=/run/ga.sock,reconnect=5', // QEMU is the client: nothing to connect to
      '-device', 'virtserialport,chardev=ga,name=org.qemu.guest_agent.0',
    ]);
    expect(r).toMatchObject({ name: 'n1', guestAgentSocket: null });
  });

  it('reads the lab\'s own command line (test/lab/vm-spec.ts)', () => {
    const args = buildQemuArgs(
      { name: 'lab1', disks: [], guestAgent: true, paused: true },
      { qmpSocket: '/tmp/lab,1/lab1.qmp', qgaSocket: '/tmp/lab,1/lab1.qga', probeSocket: null, pidFile: '/tmp/lab,1/lab1.pid', disks: [], ovmfCode: null, dataDirs: [] },
    );
    expect(parseQemuCmdline(['qemu-system-x86_64', ...args], { fallbackName: 'x' })).toEqual({
      name: 'lab1',
      qmpSockets: ['/tmp/lab,1/lab1.qmp'],
      guestAgentSocket: '/tmp/lab,1/lab1.qga',
      proxmoxId: null,
    });
  });
});

describe('parseQemuOpts', () => {
  it('follows QEMU: implied first key, flags, no-flags, last key wins', () => {
    expect([...parseQemuOpts('socket,id=a,server,nowait,id=b', 'backend')]).toEqual([
      ['backend', 'socket'],
      ['id', 'b'],
      ['server', 'on'],
      ['wait', 'off'],
    ]);
    // An implied value is only taken when no '=' comes before the first comma.
    expect([...parseQemuOpts('guest=x,,y,debug-threads=on', 'guest')]).toEqual([
      ['guest', 'x,y'],
      ['debug-threads', 'on'],
    ]);
  });

  it('round-trips any value written with doubled commas (the lab\'s qemuOptValue)', () => {
    fc.assert(
      // As in QEMU, a leading element with '=' is a key=value pair, never the implied value.
      fc.property(fc.string({ unit: 'grapheme' }).filter((p) => !p.includes('=')), fc.string({ unit: 'grapheme' }), (path, name) => {
        const opts = parseQemuOpts(`${qemuOptValue(path)},name=${qemuOptValue(name)},server=on`, 'path');
        expect(opts.get('path')).toBe(path);
        expect(opts.get('name')).toBe(name);
        expect(opts.get('server')).toBe('on');
      }),
    );
  });
});

describe('splitProcCmdline', () => {
  it('splits NUL-terminated arguments, keeping empty ones', () => {
    expect(splitProcCmdline(Buffer.from('qemu\0-name\0\0x y\0'))).toEqual({ argv: ['qemu', '-name', '', 'x y'], lossy: false });
    expect(splitProcCmdline(Buffer.from('qemu\0-S'))).toEqual({ argv: ['qemu', '-S'], lossy: false });
    expect(splitProcCmdline(Buffer.alloc(0))).toEqual({ argv: [], lossy: false });
  });

  it('decodes UTF-8 and flags bytes that are not', () => {
    expect(splitProcCmdline(Buffer.from('qemu\0-name\0caf\u00e9\0'))).toEqual({ argv: ['qemu', '-name', 'caf\u00e9'], lossy: false });
    const latin1 = Buffer.concat([Buffer.from('qemu\0-name\0caf'), Buffer.from([0xe9, 0])]);
    expect(splitProcCmdline(latin1)).toEqual({ argv: ['qemu', '-name', 'caf\ufffd'], lossy: true });
  });
});

describe('discovery: the listing script and its output', () => {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const line = (pid: number, argv: string[], cwd: string | null = '/') =>
    `${pid} ${b64(argv.map((a) => `${a}\0`).join(''))} ${cwd === null ? '-' : b64(`${cwd}\n`)}`;

  it('is valid POSIX sh (dash) and runs here, printing only well-formed lines', () => {
    execFileSync('sh', ['-n', '-c', LIST_QEMU_PROCESSES_SCRIPT]);
    const out = execFileSync('sh', ['-c', LIST_QEMU_PROCESSES_SCRIPT, 'shear-list-vms']).toString('utf8');
    for (const l of out.split('\n').filter((x) => x !== '')) expect(l).toMatch(/^\d+ [A-Za-z0-9+/=]+ ([A-Za-z0-9+/=]+|-)$/);
  });

  it('parses pid, argv and working directory; skips malformed lines', () => {
    const out = [line(7, ['qemu', '-name', 'a b'], '/srv/x y'), 'garbage', line(8, ['kvm'], null), ''].join('\n');
    expect(parseProcessListing(out)).toEqual([
      { pid: 7, argv: ['qemu', '-name', 'a b'], cwd: '/srv/x y', lossy: false },
      { pid: 8, argv: ['kvm'], cwd: null, lossy: false },
    ]);
  });

  const proc = (pid: number, name: string | null, sockets = [`/run/${pid}.qmp`]): QemuProcess => ({
    pid,
    cwd: '/',
    lossy: false,
    argv: ['qemu-system-x86_64', ...(name !== null ? ['-name', name] : []), ...sockets.flatMap((s) => ['-qmp', `unix:${s},server=on,wait=off`])],
  });

  it('sorts by name in natural order, skips VMs without a QMP socket (logged at debug), names unnamed ones pid-N', () => {
    const { log, lines } = memoryLogger();
    const vms = summariesFromProcesses([proc(30, 'vm10'), proc(31, 'vm2'), proc(32, 'hidden', []), proc(33, null), proc(34, 'Alpha')], log, 'h');
    expect(vms.map((v) => [v.id, v.name, v.pid])).toEqual([
      ['Alpha', 'Alpha', 34],
      ['pid-33', 'pid-33', 33],
      ['vm2', 'vm2', 31],
      ['vm10', 'vm10', 30],
    ]);
    expect(vms[2]).toMatchObject({ qmpSockets: ['/run/31.qmp'], guestAgentSocket: null });
    expect(lines.filter((l) => l.level === 'debug' && /32 \(hidden\).*no QMP/.test(l.message))).toHaveLength(1);
  });

  it('gives VMs that share a name the ids name@pid (none keeps the bare name) and warns', () => {
    const { log, lines } = memoryLogger();
    const vms = summariesFromProcesses([proc(200, 'web'), proc(100, 'web'), proc(50, 'db')], log, 'h');
    expect(vms.map((v) => v.id)).toEqual(['db', 'web@100', 'web@200']);
    expect(vms.map((v) => v.name)).toEqual(['db', 'web', 'web']);
    expect(lines.filter((l) => l.level === 'warn' && /2 running VMs are named "web"/.test(l.message))).toHaveLength(1);
  });

  it('compares naturally', () => {
    const names = ['vm10', 'vm2', 'vm02', 'vm1', 'a', 'vm', 'vm1a', 'b1'];
    expect([...names].sort(compareNatural)).toEqual(['a', 'b1', 'vm', 'vm1', 'vm1a', 'vm2', 'vm02', 'vm10']);
  });
});
