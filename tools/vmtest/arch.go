package main

import (
	"bytes"
	"compress/gzip"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// guestArch is what booting a kernel of one architecture takes.
type guestArch struct {
	name    string      // GOARCH of the test binaries, which is also Debian's name for the architecture
	qemu    string      // the QEMU system emulator
	qemuDeb string      // the Debian package that has it
	elf     elf.Machine // of its executables (busybox)
	machine string      // QEMU machine type, "" for the emulator's default
	cpu     string      // default CPU model (-cpu)
	console string      // the serial console's device in the guest
	cmdline string      // kernel command line of this architecture only
}

// archs are the architectures vmtest boots, by GOARCH.
var archs = map[string]guestArch{
	"amd64": {
		name: "amd64", qemu: "qemu-system-x86_64", qemuDeb: "qemu-system-x86", elf: elf.EM_X86_64,
		cpu: "max", console: "ttyS0",
		// tsc=reliable: the kernel's TSC synchronisation check fails under TCG
		// and falls back to the emulated HPET, which has no vDSO: every clock
		// read becomes a system call (the bpf tests took 21 s instead of 14 s).
		// TCG's TSC is the host's, synchronised and invariant; the end-of-run
		// clock check in readConsole would show it going wrong.
		cmdline: "tsc=reliable",
	},
	"arm64": {
		name: "arm64", qemu: "qemu-system-aarch64", qemuDeb: "qemu-system-arm", elf: elf.EM_AARCH64,
		// virt: virtio over PCI (the 9p shares), a PL011 serial console and a
		// PL031 clock, which Debian's kernel has built in. max without
		// pointer authentication: Debian's kernel signs the return address of
		// every function call, and TCG's emulated QARMA made the boot to the
		// tests take 13 s and the bpf tests 70 s instead of 3-4 s and 11 s.
		// cortex-a72 (ARMv8.0: no LSE atomics, among others) boots as fast
		// but ran the bpf tests in 16-20 s (TestRandomFrames 8 s, 2 s here).
		machine: "virt", cpu: "max,pauth=off", console: "ttyAMA0",
	},
}

// archOf returns the architecture of GOARCH name.
func archOf(name string) (guestArch, error) {
	a, ok := archs[name]
	if !ok {
		return guestArch{}, fmt.Errorf("architecture %s not supported (only amd64 and arm64)", name)
	}
	return a, nil
}

// imageArch returns the architecture (GOARCH) of the kernel image at path.
func imageArch(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	head := make([]byte, 64<<10)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	arch, err := headerArch(head[:n])
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return arch, nil
}

// headerArch tells the architecture from the start of a kernel image: an
// x86 bzImage ("HdrS" at 0x202, the boot protocol's header), an arm64 Image
// ("ARM\x64" at 0x38; Debian's vmlinuz is one, uncompressed), either of them
// gzip-compressed (Image.gz, which QEMU unpacks itself), or an ELF vmlinux.
func headerArch(head []byte) (string, error) {
	switch {
	case len(head) >= 0x3c && string(head[0x38:0x3c]) == "ARM\x64":
		return "arm64", nil
	case len(head) >= 0x206 && string(head[0x202:0x206]) == "HdrS":
		return "amd64", nil
	case len(head) >= 20 && string(head[:4]) == elf.ELFMAG:
		var m uint16
		switch elf.Data(head[elf.EI_DATA]) {
		case elf.ELFDATA2LSB:
			m = binary.LittleEndian.Uint16(head[18:])
		case elf.ELFDATA2MSB:
			m = binary.BigEndian.Uint16(head[18:])
		}
		for _, a := range archs {
			if elf.Machine(m) == a.elf {
				return a.name, nil
			}
		}
		return "", fmt.Errorf("ELF kernel for %v", elf.Machine(m))
	case len(head) >= 3 && head[0] == 0x1f && head[1] == 0x8b && head[2] == 8:
		z, err := gzip.NewReader(bytes.NewReader(head))
		if err != nil {
			return "", fmt.Errorf("gzip: %w", err)
		}
		inner, err := io.ReadAll(io.LimitReader(z, 4096))
		if len(inner) < 0x206 && err != nil {
			return "", fmt.Errorf("gzip: %w", err)
		}
		return headerArch(inner)
	}
	return "", errors.New("not a kernel image vmtest knows (bzImage, arm64 Image, Image.gz, ELF)")
}

// qemuArgs is the QEMU command line: TCG, no network, the serial console on
// stdout, the host's root read-only and the run directory writable over 9p,
// and for a kernel of another architecture than the host's the userland
// that /init layers over the host's root (read-only, tag userland).
func qemuArgs(o options, m machine, runDir string) []string {
	cpu := o.cpu
	if cpu == "" {
		cpu = m.arch.cpu
	}
	var args []string
	if m.arch.machine != "" {
		args = append(args, "-machine", m.arch.machine)
	}
	// mitigations=off: speculative-execution workarounds only cost time under
	// emulation and change nothing the tests look at.
	cmdline := []string{"console=" + m.arch.console, "panic=-1", "quiet", "mitigations=off", m.arch.cmdline, o.appendCmd}
	args = append(args,
		"-accel", "tcg", "-cpu", cpu,
		"-smp", strconv.Itoa(o.smp), "-m", strconv.Itoa(o.mem),
		"-nodefaults", "-no-user-config", "-display", "none", "-nic", "none",
		"-no-reboot", "-rtc", "base=utc",
		"-kernel", m.kernel.image, "-initrd", m.initrd,
		"-append", strings.Join(strings.Fields(strings.Join(cmdline, " ")), " "),
		"-serial", "stdio",
		"-virtfs", "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap",
		"-virtfs", "local,path="+runDir+",mount_tag=results,security_model=none",
	)
	if m.userland != "" {
		args = append(args, "-virtfs", "local,path="+m.userland+",mount_tag=userland,security_model=none,readonly=on")
	}
	return args
}

// machine is how one kernel boots: its architecture, the QEMU that emulates
// it, its initramfs and, for an architecture other than the host's, the
// userland layered over the host's root.
type machine struct {
	kernel   kernel
	arch     guestArch
	qemu     string
	initrd   string
	userland string // "" on the host's architecture
}
