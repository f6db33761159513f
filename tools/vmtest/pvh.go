package main

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
)

// xenElfnotePhys32Entry is XEN_ELFNOTE_PHYS32_ENTRY, the ELF note of a kernel
// built with CONFIG_PVH: QEMU's -kernel starts such an ELF vmlinux directly.
const xenElfnotePhys32Entry = 18

// extractPVH finds the compressed kernel inside a bzImage (as the kernel's
// scripts/extract-vmlinux does), and writes it to out if it is an ELF file
// with a PVH entry point.
func extractPVH(bzImage, out string) error {
	data, err := os.ReadFile(bzImage)
	if err != nil {
		return err
	}
	formats := []struct {
		magic []byte
		tool  []string
	}{
		{[]byte("\xfd7zXZ\x00"), []string{"xz", "-dc", "--single-stream"}},
		{[]byte{0x28, 0xb5, 0x2f, 0xfd}, []string{"zstd", "-dc"}},
		{[]byte{0x1f, 0x8b, 0x08}, []string{"gzip", "-dc"}},
	}
	for _, f := range formats {
		if _, err := exec.LookPath(f.tool[0]); err != nil {
			continue
		}
		for off, tries := 0, 0; tries < 3; tries++ {
			i := bytes.Index(data[off:], f.magic)
			if i < 0 {
				break
			}
			off += i
			cmd := exec.Command(f.tool[0], f.tool[1:]...)
			cmd.Stdin = bytes.NewReader(data[off:])
			// The data after the stream makes the tools complain; what counts
			// is whether they produced a PVH kernel.
			vmlinux, _ := cmd.Output()
			if hasPVHNote(vmlinux) {
				return writeAtomic(out, vmlinux)
			}
			off++
		}
	}
	return errors.New("no ELF kernel with a PVH entry point inside")
}

// hasPVHNote reports whether b is an ELF file with the PVH entry note.
func hasPVHNote(b []byte) bool {
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		return false
	}
	for _, p := range f.Progs {
		if p.Type != elf.PT_NOTE {
			continue
		}
		notes, err := io.ReadAll(p.Open())
		if err != nil {
			continue
		}
		for len(notes) >= 12 {
			namesz := int(binary.LittleEndian.Uint32(notes[0:]))
			descsz := int(binary.LittleEndian.Uint32(notes[4:]))
			typ := binary.LittleEndian.Uint32(notes[8:])
			size := 12 + align4(namesz) + align4(descsz)
			if size > len(notes) {
				break
			}
			if typ == xenElfnotePhys32Entry && string(notes[12:12+namesz]) == "Xen\x00" {
				return true
			}
			notes = notes[size:]
		}
	}
	return false
}

func align4(n int) int { return (n + 3) &^ 3 }

// writeAtomic writes data to a temporary file next to path and renames it.
func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
