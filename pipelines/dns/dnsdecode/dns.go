package main

// One DNS message, read as tshark 4.0's DNS dissector (packet-dns.c dissect_dns_common)
// reads it, for the fields the dns table uses. The message is tshark's tvb: the UDP
// payload, or for TCP the PDU with its two-byte length (names' pointers count from
// `base`, 0 or 2). Fields are taken the first time tshark would add them to its tree
// (`-E occurrence=f`), over every message in the frame; the reading stops where tshark's
// dissector throws (a read past the end of the message, a label type 0x80).

import "encoding/binary"

const (
	typeA     = 1
	typeSOA   = 6
	typeMX    = 15
	typeAAAA  = 28
	typeSRV   = 33
	typeOPT   = 41
	opcodeUpd = 5
)

type flavour int

const (
	plainDNS flavour = iota
	mDNS
	llmnr
)

// fields holds the first value of each field the output has, with whether it was set.
type fields struct {
	response            bool // some message in the frame is a response
	ipSrc, ipDst        [4]byte
	ip6Src, ip6Dst      [16]byte
	respName            []byte // as tshark prints it (buffers reused from frame to frame)
	respType, respClass int
	rcode, answers      int
	a                   [4]byte
	qryName             []byte
	qryType, qryClass   int
	has                 uint32
}

func (f *fields) reset() {
	f.response, f.has = false, 0
}

const (
	hasIPSrc = 1 << iota
	hasIPDst
	hasIP6Src
	hasIP6Dst
	hasRespName
	hasRespType
	hasRespClass
	hasRcode
	hasA
	hasAnswers
	hasQryName
	hasQryType
	hasQryClass
)

func (f *fields) set(bit uint32) bool {
	if f.has&bit != 0 {
		return false
	}
	f.has |= bit
	return true
}

func u16(b []byte, off int) (int, bool) {
	if off < 0 || off+2 > len(b) {
		return 0, false
	}
	return int(binary.BigEndian.Uint16(b[off:])), true
}

// message dissects one DNS message into f.
func (d *decoder) message(t []byte, base int, kind flavour, f *fields) {
	if base+4 > len(t) {
		return // tshark reads the id and the flags before it adds anything
	}
	flags := int(binary.BigEndian.Uint16(t[base+2:]))
	response := flags&0x8000 != 0
	if response {
		f.response = true
		if f.set(hasRcode) {
			f.rcode = flags & 0xf
		}
	}
	opcode := (flags >> 11) & 0xf
	quest, ok := u16(t, base+4)
	if !ok {
		return
	}
	ans, ok := u16(t, base+6)
	if !ok {
		return
	}
	if opcode != opcodeUpd && f.set(hasAnswers) {
		f.answers = ans
	}
	auth, ok := u16(t, base+8)
	if !ok {
		return
	}
	add, ok := u16(t, base+10)
	if !ok {
		return
	}
	off := base + 12
	for i := 0; i < quest; i++ {
		used, ok := d.question(t, off, base, kind, f)
		if !ok {
			return
		}
		off += used
	}
	for i := 0; i < ans+auth+add; i++ {
		used, ok := d.record(t, off, base, kind, f)
		if !ok {
			return
		}
		off += used
	}
}

// nameTypeClass reads a name, a type and a class; the name is printed into *out unless
// out is nil (a field already set needs no text).
func (d *decoder) nameTypeClass(t []byte, off, base int, out *[]byte) (int, int, int, bool) {
	used, ok := d.names.read(t, off, base, out)
	if !ok {
		return 0, 0, 0, false
	}
	rtype, ok := u16(t, off+used)
	if !ok {
		return 0, 0, 0, false
	}
	class, ok := u16(t, off+used+2)
	if !ok {
		return 0, 0, 0, false
	}
	return used + 4, rtype, class, true
}

func (d *decoder) question(t []byte, off, base int, kind flavour, f *fields) (int, bool) {
	var out *[]byte
	if f.has&hasQryName == 0 {
		out = &d.scratch
	}
	used, rtype, class, ok := d.nameTypeClass(t, off, base, out)
	if !ok {
		return 0, false
	}
	if kind == mDNS {
		class &= 0x7fff
	}
	if f.set(hasQryName) {
		f.qryName = append(f.qryName[:0], d.scratch...)
	}
	if f.set(hasQryType) {
		f.qryType = rtype
	}
	if f.set(hasQryClass) {
		f.qryClass = class
	}
	return used, true
}

func (d *decoder) record(t []byte, off, base int, kind flavour, f *fields) (int, bool) {
	var out *[]byte
	if f.has&hasRespName == 0 {
		out = &d.scratch
	}
	used, rtype, class, ok := d.nameTypeClass(t, off, base, out)
	if !ok {
		return 0, false
	}
	dataLen, ok := u16(t, off+used+4)
	if !ok {
		return 0, false
	}
	if off+used+6+dataLen > len(t) {
		return 0, false // tshark's tree item for the record spans its data: past the end, it throws
	}
	if rtype != typeSRV && f.set(hasRespName) { // tshark names an SRV record's owner otherwise
		f.respName = append(f.respName[:0], d.scratch...)
	}
	if f.set(hasRespType) {
		f.respType = rtype
	}
	if rtype != typeOPT && f.set(hasRespClass) { // an OPT record's class is its payload size
		if kind == mDNS {
			class &= 0x7fff
		}
		f.respClass = class
	}
	rdata := off + used + 6
	if dataLen > 0 && !d.rdata(t, rdata, base, rtype, dataLen, f) {
		return 0, false
	}
	return used + 6 + dataLen, true
}

// rdata reads what tshark's dissector reads of a record's data where that can fail: the
// address of A and AAAA records and the names inside the common types' data. Other types'
// data is skipped by its length.
func (d *decoder) rdata(t []byte, off, base, rtype, dataLen int, f *fields) bool {
	name := func(at int) (int, bool) {
		used, ok := d.names.read(t, at, base, nil)
		return used, ok
	}
	need := func(at, n int) bool { return at >= 0 && n >= 0 && at+n <= len(t) }
	item := func(at, n int) bool { // proto_tree_add_item: -1 runs to the end of the message
		if n == -1 {
			return at >= 0 && at <= len(t)
		}
		return need(at, n)
	}
	bitmap := func(at, left int) bool { // dissect_type_bitmap
		for left != 0 {
			if !need(at, 2) {
				return false
			}
			size := int(t[at+1])
			at, left = at+2, left-2
			if !need(at, size) {
				return false
			}
			at, left = at+size, left-size
		}
		return true
	}
	switch rtype {
	case typeA:
		if !need(off, 4) {
			return false
		}
		if f.set(hasA) {
			copy(f.a[:], t[off:off+4])
		}
	case typeAAAA:
		return need(off, 16)
	case 2, 3, 4, 5, 7, 8, 9, 12, 23, 39: // NS MD MF CNAME MB MG MR PTR NSAP-PTR DNAME
		_, ok := name(off)
		return ok
	case typeSOA:
		used, ok := name(off)
		if !ok {
			return false
		}
		more, ok := name(off + used)
		return ok && need(off+used+more, 20)
	case 14, 17: // MINFO RP
		used, ok := name(off)
		if !ok {
			return false
		}
		_, ok = name(off + used)
		return ok
	case typeMX, 18, 21, 36: // MX AFSDB RT KX
		if !need(off, 2) {
			return false
		}
		_, ok := name(off + 2)
		return ok
	case 26: // PX
		used, ok := name(off + 2)
		if !ok {
			return false
		}
		_, ok = name(off + 2 + used)
		return ok
	case typeSRV:
		if !need(off, 6) {
			return false
		}
		_, ok := name(off + 6)
		return ok
	case 24, 46: // SIG RRSIG: 18 bytes, the signer's name, the signature
		if !need(off, 18) {
			return false
		}
		used, ok := name(off + 18)
		rest := dataLen - 18 - used
		return ok && (rest == 0 || item(off+18+used, rest))
	case 30: // NXT: the next name first
		_, ok := name(off)
		return ok
	case 47: // NSEC: the next name, then the type bitmap over what is left
		used, ok := name(off)
		return ok && bitmap(off+used, dataLen-used)
	case 43, 59, 32769, 48, 60: // DS CDS DLV DNSKEY CDNSKEY: 4 bytes, then the digest or key
		return need(off, 4) && item(off+4, dataLen-4)
	case 44: // SSHFP
		return need(off, 2) && item(off+2, dataLen-2)
	case 50: // NSEC3: 5 bytes, salt, hash, type bitmap
		if !need(off, 5) {
			return false
		}
		salt := int(t[off+4])
		at := off + 5
		if !need(at, salt+1) {
			return false
		}
		hash := int(t[at+salt])
		at += salt + 1
		if hash > 0 && !need(at, hash) {
			return false
		}
		at += hash
		return bitmap(at, dataLen-(at-off))
	case 11: // WKS: address, protocol, then a bitmap read byte by byte to the data's end
		return need(off, 5) && dataLen >= 5
	case 27: // GPOS: three strings, each after its length
		at := off
		for k := 0; k < 3; k++ {
			if !need(at, 1) || !need(at+1, int(t[at])) {
				return false
			}
			at += 1 + int(t[at])
		}
	case 13: // HINFO: two strings, each after its length
		if !need(off, 1) {
			return false
		}
		os := off + 1 + int(t[off])
		return need(os, 1) && need(os+1, int(t[os]))
	case 16: // TXT: strings until the data's length is used up exactly (or the message ends)
		for left, at := dataLen, off; left != 0; {
			if !need(at, 1) {
				return false
			}
			n := int(t[at])
			if !need(at+1, n) {
				return false
			}
			at, left = at+1+n, left-1-n
		}
	case 250: // TSIG: the algorithm, time, fudge, MAC, original id, error, other data
		used, ok := name(off)
		if !ok {
			return false
		}
		at := off + used + 8
		mac, ok := u16(t, at)
		if !ok || !need(at+2, mac) {
			return false
		}
		at += 2 + mac + 4
		other, ok := u16(t, at)
		return ok && need(at+2, other)
	}
	return true
}
