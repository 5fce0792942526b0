"""Shared state of the Proxmox VE STAND-INS used by Shear's tests (not Proxmox code).

No Proxmox can run on the test machine, so `pveversion`, `pvesh`, `pvesm` and `qm`
are small stand-ins on the lab sshd's PATH. They implement only the calls Shear
makes, with output shaped as Proxmox prints it (see the API schema of
qemu-server PVE/API2/Qemu.pm vmlist / vm_config, pve-storage
PVE/API2/Storage/Status.pm and Content.pm, PVE/CLI/pvesm.pm; JSON printed by
PVE::CLIFormatter: one line, keys sorted). Their state is one JSON file named by
$SHEAR_PVE_STATE.
"""
import fcntl
import json
import os
import sys

STATE = os.environ.get("SHEAR_PVE_STATE", "")


def die(msg, code=255):
    sys.stderr.write(msg.rstrip("\n") + "\n")
    sys.exit(code)


class State:
    """The state file, locked for the duration of a command (qm set checks and sets atomically)."""

    def __enter__(self):
        if not STATE:
            die("SHEAR_PVE_STATE is not set (Proxmox stand-in without a lab)")
        self.fd = open(STATE, "r+")
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        self.data = json.load(self.fd)
        return self

    def save(self):
        self.fd.seek(0)
        self.fd.truncate()
        json.dump(self.data, self.fd, indent=1)

    def __exit__(self, *exc):
        # Written out BEFORE the lock goes: the next holder must read the whole new state.
        self.fd.flush()
        os.fsync(self.fd.fileno())
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        self.fd.close()


def print_json(value):
    print(json.dumps(value, sort_keys=True, separators=(",", ":")))


# pve-storage plugindata: which formats each type can hold, and whether volumes are files.
FORMATS = {
    "dir": ["raw", "qcow2", "vmdk"], "nfs": ["raw", "qcow2", "vmdk"], "cifs": ["raw", "qcow2", "vmdk"],
    "lvmthin": ["raw"], "zfspool": ["raw"], "rbd": ["raw"], "lvm": ["raw"], "btrfs": ["raw"],
}
PATH_BASED = {"dir", "nfs", "cifs", "btrfs", "glusterfs"}


def volume_path(storage_id, store, volname):
    if store["type"] in PATH_BASED:
        return os.path.join(store["path"], "images", volname)
    return os.path.join(store["path"], volname)


def split_volid(volid):
    if ":" not in volid:
        die(f"unable to parse volume ID '{volid}'")
    return volid.split(":", 1)
