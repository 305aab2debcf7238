package main

// dnsdecode columns CAPTURE: the same rows as the text output, already made into the dns
// table's columns the way pipelines/dns/decode.py to_dns_batch makes them from the text
// (the source and destination address from IPv4 or else IPv6; name, class and type from the
// first answer, or from the question when there is no answer), as Arrow buffers the worker
// wraps without parsing (pipelines/dns/columns.py reads them; frame_time is made there from
// the seconds and the fraction, in the worker's time zone).
//
// The stream: the magic "DNSCOL1\n", then batches of at most batchRows rows, each a header
// (rows uint32, payload bytes uint32) and a payload of the buffers below in this order, each
// one a uint64 byte length and the bytes, padded with zeros to a multiple of 8. Integers are
// little-endian; a validity bitmap holds a bit per row, least significant bit first.
//
//	0 seconds validity (the row has a time)  1 seconds int64   2-3 fraction offsets, data
//	4 frame_len int32   5-6 ip_dst   7-8 ip_src   9-10 dns_qry_name   11-12 dns_qry_class
//	13 dns_qry_type validity   14 dns_qry_type int32   15 rcode validity   16 rcode int32
//	17-18 dns_a
//
// Strings are int32 offsets (rows+1 of them, from 0) and their bytes.

import (
	"bufio"
	"encoding/binary"
)

const (
	columnsMagic = "DNSCOL1\n"
	batchRows    = 32768
	nBuffers     = 19
)

type stringColumn struct{ offsets, data []byte }

func (s *stringColumn) reset() {
	s.offsets = binary.LittleEndian.AppendUint32(s.offsets[:0], 0)
	s.data = s.data[:0]
}

func (s *stringColumn) end() {
	s.offsets = binary.LittleEndian.AppendUint32(s.offsets, uint32(len(s.data)))
}

type bitmap []byte

func (b *bitmap) put(row int, valid bool) {
	if row%8 == 0 {
		*b = append(*b, 0)
	}
	if valid {
		(*b)[row/8] |= 1 << uint(row%8)
	}
}

type columnSink struct {
	out                             *bufio.Writer
	rows                            int
	secValid, typeValid, rcodeValid bitmap
	secs, frameLen, types, rcodes   []byte
	fraction, dst, src, name, class stringColumn
	a                               stringColumn
	pad                             [8]byte
}

func newColumnSink(out *bufio.Writer) *columnSink {
	c := &columnSink{out: out}
	c.reset()
	return c
}

func (c *columnSink) strings() []*stringColumn {
	return []*stringColumn{&c.fraction, &c.dst, &c.src, &c.name, &c.class, &c.a}
}

func (c *columnSink) reset() {
	c.rows = 0
	c.secValid, c.typeValid, c.rcodeValid = c.secValid[:0], c.typeValid[:0], c.rcodeValid[:0]
	c.secs, c.frameLen, c.types, c.rcodes = c.secs[:0], c.frameLen[:0], c.types[:0], c.rcodes[:0]
	for _, s := range c.strings() {
		s.reset()
	}
}

func (c *columnSink) start() { c.out.WriteString(columnsMagic) }

func (c *columnSink) row(rec *record, f *fields) {
	le := binary.LittleEndian
	c.secValid.put(c.rows, rec.stamped)
	if rec.stamped {
		c.secs = le.AppendUint64(c.secs, uint64(rec.sec))
		c.fraction.data = appendNanos(c.fraction.data, rec.nsec)
	} else {
		c.secs = le.AppendUint64(c.secs, 0)
	}
	c.fraction.end()
	c.frameLen = le.AppendUint32(c.frameLen, frameLen(rec))
	c.dst.data = appendEither(c.dst.data, f, hasIPDst, f.ipDst[:], hasIP6Dst, f.ip6Dst[:])
	c.dst.end()
	c.src.data = appendEither(c.src.data, f, hasIPSrc, f.ipSrc[:], hasIP6Src, f.ip6Src[:])
	c.src.end()
	noAnswer := f.has&hasAnswers == 0 || f.answers == 0
	var nameBit, typeBit, classBit uint32 = hasRespName, hasRespType, hasRespClass
	name, typ, class := f.respName, f.respType, f.respClass
	if noAnswer {
		nameBit, name, typeBit, typ, classBit, class = hasQryName, f.qryName, hasQryType,
			f.qryType, hasQryClass, f.qryClass
	}
	if f.has&nameBit != 0 {
		c.name.data = append(c.name.data, name...)
	}
	c.name.end()
	if f.has&classBit != 0 {
		c.class.data = appendLowerHex(append(c.class.data, '0', 'x'), uint32(class), 4)
	}
	c.class.end()
	c.typeValid.put(c.rows, f.has&typeBit != 0)
	c.types = le.AppendUint32(c.types, uint32(int32(typ)))
	c.rcodeValid.put(c.rows, f.has&hasRcode != 0)
	c.rcodes = le.AppendUint32(c.rcodes, uint32(int32(f.rcode)))
	if f.has&hasA != 0 {
		c.a.data = appendIPv4(c.a.data, f.a[:])
	}
	c.a.end()
	c.rows++
	if c.rows == batchRows {
		c.flush()
	}
}

// appendEither: the IPv4 address where the frame has one, else the IPv6 one, else nothing.
func appendEither(b []byte, f *fields, bit4 uint32, v4 []byte, bit6 uint32, v6 []byte) []byte {
	if f.has&bit4 != 0 {
		return appendIPv4(b, v4)
	}
	if f.has&bit6 != 0 {
		return appendIPv6(b, v6)
	}
	return b
}

func (c *columnSink) flush() {
	if c.rows == 0 {
		return
	}
	buffers := [nBuffers][]byte{c.secValid, c.secs, c.fraction.offsets, c.fraction.data,
		c.frameLen, c.dst.offsets, c.dst.data, c.src.offsets, c.src.data, c.name.offsets,
		c.name.data, c.class.offsets, c.class.data, c.typeValid, c.types, c.rcodeValid,
		c.rcodes, c.a.offsets, c.a.data}
	payload := 0
	for _, b := range buffers {
		payload += 8 + padded(len(b))
	}
	var head [8]byte
	binary.LittleEndian.PutUint32(head[:4], uint32(c.rows))
	binary.LittleEndian.PutUint32(head[4:], uint32(payload))
	c.out.Write(head[:])
	for _, b := range buffers {
		var size [8]byte
		binary.LittleEndian.PutUint64(size[:], uint64(len(b)))
		c.out.Write(size[:])
		c.out.Write(b)
		c.out.Write(c.pad[:padded(len(b))-len(b)])
	}
	c.reset()
}

func padded(n int) int { return (n + 7) &^ 7 }
