package main

// Reading capture files: classic libpcap (either byte order, microsecond or nanosecond
// time stamps) and pcapng (any number of sections and interfaces, enhanced, simple and
// obsolete packet blocks), as tshark's wiretap reads them. Records are streamed: one
// buffer is reused for every packet.

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
)

const maxSnaplen = 262144 // wiretap's largest packet for these link types

var (
	errNotCapture = errors.New("not a capture")
	errCutShort   = errors.New("cut short in the middle of a packet")
	errCorrupt    = errors.New("damaged or corrupt")
)

// record is one packet: its time, its length on the wire and the bytes captured.
type record struct {
	sec     int64
	nsec    int64
	origLen uint32
	link    uint32
	stamped bool // false for a simple packet block, which has no time
	data    []byte
}

type reader interface {
	next(rec *record) error // io.EOF at the clean end
}

func openCapture(in *bufio.Reader) (reader, error) {
	magic, err := in.Peek(4)
	if err != nil {
		if len(magic) == 0 {
			return nil, io.EOF // an empty file: no packets, as tshark prints none
		}
		return nil, errNotCapture
	}
	switch binary.LittleEndian.Uint32(magic) {
	case 0xa1b2c3d4, 0xd4c3b2a1, 0xa1b23c4d, 0x4d3cb2a1:
		return newPcap(in)
	case 0x0a0d0d0a:
		p := &pcapng{in: in}
		var head [8]byte
		if _, err := io.ReadFull(in, head[:]); err != nil {
			return nil, errCutShortHeader
		}
		if err := p.section(head); err != nil {
			return nil, err
		}
		return p, nil
	}
	return nil, errNotCapture
}

// readFull distinguishes a clean end (io.EOF before any byte) from a cut (errCutShort).
func readFull(in *bufio.Reader, buf []byte) error {
	n, err := io.ReadFull(in, buf)
	if err == io.EOF && n == 0 {
		return io.EOF
	}
	if err != nil {
		return errCutShort
	}
	return nil
}

// --- libpcap ----------------------------------------------------------------------------

type pcap struct {
	in    *bufio.Reader
	order binary.ByteOrder
	nano  bool
	link  uint32
	hdr   [16]byte
	buf   []byte
}

func newPcap(in *bufio.Reader) (*pcap, error) {
	var h [24]byte
	if _, err := io.ReadFull(in, h[:]); err != nil {
		return nil, errCutShortHeader
	}
	p := &pcap{in: in, buf: make([]byte, 65536)}
	switch binary.LittleEndian.Uint32(h[:4]) {
	case 0xa1b2c3d4:
		p.order = binary.LittleEndian
	case 0xa1b23c4d:
		p.order, p.nano = binary.LittleEndian, true
	case 0xd4c3b2a1:
		p.order = binary.BigEndian
	case 0x4d3cb2a1:
		p.order, p.nano = binary.BigEndian, true
	}
	p.link = p.order.Uint32(h[20:24]) & 0x0fffffff // the upper bits carry FCS information
	return p, nil
}

var errCutShortHeader = errors.New("cut short in its header")

func (p *pcap) next(rec *record) error {
	if err := readFull(p.in, p.hdr[:]); err != nil {
		return err
	}
	caplen := p.order.Uint32(p.hdr[8:12])
	if caplen > maxSnaplen {
		return errCorrupt
	}
	if int(caplen) > cap(p.buf) {
		p.buf = make([]byte, caplen)
	}
	data := p.buf[:caplen]
	if _, err := io.ReadFull(p.in, data); err != nil {
		return errCutShort
	}
	rec.sec = int64(p.order.Uint32(p.hdr[0:4]))
	frac := int64(p.order.Uint32(p.hdr[4:8]))
	if p.nano {
		rec.nsec = frac
	} else {
		rec.nsec = frac * 1000
	}
	rec.origLen = p.order.Uint32(p.hdr[12:16])
	rec.link = p.link
	rec.stamped = true
	rec.data = data
	return nil
}

// --- pcapng -----------------------------------------------------------------------------

type iface struct {
	link     uint32
	snaplen  uint32
	units    uint64 // time units per second (if_tsresol)
	tsoffset int64  // seconds (if_tsoffset)
}

type pcapng struct {
	in     *bufio.Reader
	order  binary.ByteOrder
	ifaces []iface
	block  []byte
}

func (p *pcapng) next(rec *record) error {
	for {
		var head [8]byte
		if err := readFull(p.in, head[:]); err != nil {
			return err
		}
		if binary.LittleEndian.Uint32(head[:4]) == 0x0a0d0d0a {
			if err := p.section(head); err != nil {
				return err
			}
			continue
		}
		if p.order == nil {
			return errNotCapture
		}
		kind, total := p.order.Uint32(head[:4]), p.order.Uint32(head[4:8])
		if total < 12 || total%4 != 0 || total > 16*1024*1024 {
			return errCorrupt
		}
		body, err := p.body(total - 8)
		if err != nil {
			return err
		}
		switch kind {
		case 1: // interface description
			if err := p.describe(body); err != nil {
				return err
			}
		case 6: // enhanced packet
			return p.enhanced(body, rec)
		case 3: // simple packet: no time stamp
			return p.simple(body, rec)
		case 2: // obsolete packet block
			return p.obsolete(body, rec)
		}
	}
}

func (p *pcapng) body(n uint32) ([]byte, error) {
	if int(n) > cap(p.block) {
		p.block = make([]byte, n)
	}
	b := p.block[:n]
	if _, err := io.ReadFull(p.in, b); err != nil {
		return nil, errCutShort
	}
	return b[:n-4], nil // the trailing copy of the length
}

func (p *pcapng) section(head [8]byte) error {
	var bom [4]byte
	if err := readFull(p.in, bom[:]); err != nil {
		return errCutShortHeader
	}
	switch binary.LittleEndian.Uint32(bom[:]) {
	case 0x1a2b3c4d:
		p.order = binary.LittleEndian
	case 0x4d3c2b1a:
		p.order = binary.BigEndian
	default:
		return errNotCapture
	}
	total := p.order.Uint32(head[4:8])
	if total < 28 || total%4 != 0 || total > 16*1024*1024 {
		return errCorrupt
	}
	if _, err := p.body(total - 12); err != nil {
		return errCutShortHeader
	}
	p.ifaces = p.ifaces[:0]
	return nil
}

func (p *pcapng) describe(b []byte) error {
	if len(b) < 8 {
		return errCorrupt
	}
	ifc := iface{link: uint32(p.order.Uint16(b[0:2])), snaplen: p.order.Uint32(b[4:8]),
		units: 1000000}
	for opts := b[8:]; len(opts) >= 4; {
		code, n := p.order.Uint16(opts[0:2]), int(p.order.Uint16(opts[2:4]))
		if code == 0 || 4+n > len(opts) {
			break
		}
		value := opts[4 : 4+n]
		if code == 9 && n >= 1 { // if_tsresol
			base, exp := uint64(10), uint64(value[0]&0x7f)
			if value[0]&0x80 != 0 {
				base = 2
			}
			if (base == 2 && exp < 64) || (base == 10 && exp < 20) {
				ifc.units = 1
				for i := uint64(0); i < exp; i++ {
					ifc.units *= base
				}
			} else {
				ifc.units = ^uint64(0)
			}
		} else if code == 14 && n >= 8 { // if_tsoffset
			ifc.tsoffset = int64(p.order.Uint64(value))
		}
		opts = opts[4+(n+3)/4*4:]
	}
	p.ifaces = append(p.ifaces, ifc)
	return nil
}

func (p *pcapng) stamp(ifc iface, high, low uint32, rec *record) {
	ts := uint64(high)<<32 | uint64(low)
	rec.sec = int64(ts/ifc.units) + ifc.tsoffset
	rec.nsec = int64(((ts % ifc.units) * 1000000000) / ifc.units)
}

func (p *pcapng) packet(ifc iface, data []byte, caplen, origLen uint32, rec *record) error {
	if caplen > maxSnaplen || int(caplen) > len(data) {
		return errCorrupt
	}
	rec.origLen = origLen
	rec.link = ifc.link
	rec.stamped = true
	rec.data = data[:caplen]
	return nil
}

func (p *pcapng) enhanced(b []byte, rec *record) error {
	if len(b) < 20 {
		return errCorrupt
	}
	id := p.order.Uint32(b[0:4])
	if int(id) >= len(p.ifaces) {
		return errCorrupt
	}
	ifc := p.ifaces[id]
	p.stamp(ifc, p.order.Uint32(b[4:8]), p.order.Uint32(b[8:12]), rec)
	return p.packet(ifc, b[20:], p.order.Uint32(b[12:16]), p.order.Uint32(b[16:20]), rec)
}

func (p *pcapng) obsolete(b []byte, rec *record) error {
	if len(b) < 20 {
		return errCorrupt
	}
	id := uint32(p.order.Uint16(b[0:2]))
	if int(id) >= len(p.ifaces) {
		return errCorrupt
	}
	ifc := p.ifaces[id]
	p.stamp(ifc, p.order.Uint32(b[4:8]), p.order.Uint32(b[8:12]), rec)
	return p.packet(ifc, b[20:], p.order.Uint32(b[12:16]), p.order.Uint32(b[16:20]), rec)
}

func (p *pcapng) simple(b []byte, rec *record) error {
	if len(b) < 4 || len(p.ifaces) == 0 {
		return errCorrupt
	}
	ifc := p.ifaces[0]
	origLen := p.order.Uint32(b[0:4])
	caplen := origLen
	if ifc.snaplen != 0 && caplen > ifc.snaplen {
		caplen = ifc.snaplen
	}
	rec.sec, rec.nsec = 0, 0
	err := p.packet(ifc, b[4:], caplen, origLen, rec)
	rec.stamped = false
	return err
}
