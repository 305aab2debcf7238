package main

// dnsdecode split PKT_NUM CAPTURE PREFIX: the capture cut into pieces of PKT_NUM packets,
// named as editcap -c names them (PREFIX_00000_YYYYMMDDhhmmss.pcap, the time of the
// piece's first packet in the local time of TZ), each printed on stdout the moment it is
// complete, so that the master stores and publishes a piece while the next one is cut.
// Records are copied as they are, never re-encoded: a pcap gives pcap pieces, a pcapng
// gives pcapng pieces that each start with the section header and the interfaces in force
// (blocks other than packets are copied where they come). A capture without packets gives
// no piece. A capture cut short gives the pieces before the cut, and says so as editcap does.

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"
)

type splitter struct {
	prefix  string
	pktNum  int
	index   int
	count   int
	out     *os.File
	buf     *bufio.Writer
	name    string
	preface []byte // what every piece starts with: the pcap header, or the SHB and IDBs
	done    io.Writer
}

func runSplit(args []string, stdout, stderr io.Writer) int {
	if len(args) != 3 {
		fmt.Fprintf(stderr, "usage: %s split PKT_NUM CAPTURE PREFIX\n", prog)
		return 1
	}
	pktNum, err := strconv.Atoi(args[0])
	if err != nil || pktNum < 1 {
		fmt.Fprintf(stderr, "%s: PKT_NUM must be a positive number of packets, not %q\n",
			prog, args[0])
		return 1
	}
	path := args[1]
	file, err := os.Open(path)
	if err != nil {
		fmt.Fprintf(stderr, "%s: The file \"%s\" doesn't exist.\n", prog, path)
		return 2
	}
	defer file.Close()
	in := bufio.NewReaderSize(file, 1<<20)
	s := &splitter{prefix: args[2], pktNum: pktNum, done: stdout}
	err = s.copy(in)
	if closeErr := s.close(); err == nil {
		err = closeErr
	}
	switch err {
	case nil, io.EOF:
		return 0
	case errNotCapture, errCutShort, errCutShortHeader, errCorrupt:
		return failure(stderr, path, err)
	}
	fmt.Fprintf(stderr, "%s: cannot write the pieces of \"%s\": %v\n", prog, path, err)
	return 2
}

func (s *splitter) copy(in *bufio.Reader) error {
	magic, err := in.Peek(4)
	if err != nil {
		if len(magic) == 0 {
			return io.EOF
		}
		return errNotCapture
	}
	switch binary.LittleEndian.Uint32(magic) {
	case 0xa1b2c3d4, 0xd4c3b2a1, 0xa1b23c4d, 0x4d3cb2a1:
		return s.copyPcap(in)
	case 0x0a0d0d0a:
		return s.copyPcapng(in)
	}
	return errNotCapture
}

func (s *splitter) copyPcap(in *bufio.Reader) error {
	header := make([]byte, 24)
	if _, err := io.ReadFull(in, header); err != nil {
		return errCutShortHeader
	}
	order := binary.ByteOrder(binary.LittleEndian)
	if m := binary.LittleEndian.Uint32(header); m == 0xd4c3b2a1 || m == 0x4d3cb2a1 {
		order = binary.BigEndian
	}
	s.preface = header
	rec := make([]byte, 16+maxSnaplen)
	for {
		if err := readFull(in, rec[:16]); err != nil {
			return err
		}
		caplen := order.Uint32(rec[8:12])
		if caplen > maxSnaplen {
			return errCorrupt
		}
		if _, err := io.ReadFull(in, rec[16:16+caplen]); err != nil {
			return errCutShort
		}
		if err := s.packet(int64(order.Uint32(rec[0:4])), rec[:16+caplen]); err != nil {
			return err
		}
	}
}

func (s *splitter) copyPcapng(in *bufio.Reader) error {
	var order binary.ByteOrder
	var units []uint64
	var offsets []int64
	var block []byte
	for {
		var head [12]byte
		if err := readFull(in, head[:8]); err != nil {
			if order == nil {
				return errCutShortHeader
			}
			return err
		}
		shb := binary.LittleEndian.Uint32(head[:4]) == 0x0a0d0d0a
		if shb {
			if _, err := io.ReadFull(in, head[8:12]); err != nil {
				return errCutShortHeader
			}
			switch binary.LittleEndian.Uint32(head[8:12]) {
			case 0x1a2b3c4d:
				order = binary.LittleEndian
			case 0x4d3c2b1a:
				order = binary.BigEndian
			default:
				return errNotCapture
			}
		}
		total := order.Uint32(head[4:8])
		if total < 12 || total%4 != 0 || total > 16*1024*1024 || (shb && total < 28) {
			return errCorrupt
		}
		if cap(block) < int(total) {
			block = make([]byte, total)
		}
		block = block[:total]
		n := 8
		if shb {
			n = 12
		}
		copy(block, head[:n])
		if _, err := io.ReadFull(in, block[n:]); err != nil {
			if shb {
				return errCutShortHeader
			}
			return errCutShort
		}
		kind := order.Uint32(block[:4])
		switch {
		case shb:
			units, offsets = units[:0], offsets[:0]
			s.preface = append(s.preface[:0], block...)
			if err := s.meta(block); err != nil {
				return err
			}
		case kind == 1:
			var p pcapng
			p.order = order
			if err := p.describe(block[8 : total-4]); err != nil {
				return err
			}
			units = append(units, p.ifaces[0].units)
			offsets = append(offsets, p.ifaces[0].tsoffset)
			s.preface = append(s.preface, block...)
			if err := s.meta(block); err != nil {
				return err
			}
		case kind == 6 || kind == 2 || kind == 3:
			sec := int64(0)
			if kind != 3 {
				if total < 32 {
					return errCorrupt
				}
				id := int(order.Uint32(block[8:12]))
				if kind == 2 {
					id = int(order.Uint16(block[8:10]))
				}
				if id >= len(units) {
					return errCorrupt
				}
				ts := uint64(order.Uint32(block[12:16]))<<32 | uint64(order.Uint32(block[16:20]))
				sec = int64(ts/units[id]) + offsets[id]
			}
			if err := s.packet(sec, block); err != nil {
				return err
			}
		default:
			if err := s.meta(block); err != nil {
				return err
			}
		}
	}
}

// meta copies a block that is not a packet into the piece being written, if any (the
// pieces after it get the section header and interfaces in their preface).
func (s *splitter) meta(block []byte) error {
	if s.out == nil {
		return nil
	}
	_, err := s.buf.Write(block)
	return err
}

func (s *splitter) packet(sec int64, raw []byte) error {
	if s.out != nil && s.count == s.pktNum {
		if err := s.close(); err != nil {
			return err
		}
	}
	if s.out == nil {
		stamp := time.Unix(sec, 0).In(time.Local).Format("20060102150405")
		s.name = fmt.Sprintf("%s_%05d_%s.pcap", s.prefix, s.index, stamp)
		out, err := os.OpenFile(s.name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return err
		}
		s.out, s.buf, s.count = out, bufio.NewWriterSize(out, 1<<20), 0
		s.index++
		if _, err := s.buf.Write(s.preface); err != nil {
			return err
		}
	}
	s.count++
	_, err := s.buf.Write(raw)
	return err
}

// close finishes the piece being written and prints its name.
func (s *splitter) close() error {
	if s.out == nil {
		return nil
	}
	err := s.buf.Flush()
	if closeErr := s.out.Close(); err == nil {
		err = closeErr
	}
	s.out = nil
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(s.done, s.name)
	return err
}
