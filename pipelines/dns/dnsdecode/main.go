// dnsdecode reads a capture (pcap, pcapng) and prints, for every frame holding a DNS
// response, the fields the dns table is made from, as `tshark -n -T fields -E header=y
// -E separator=/t -E quote=n -E occurrence=f` prints them with the worker's fields and
// the filter `dns.flags.response == 1` (pipelines/dns/decode.py reads both alike).
//
//	dnsdecode CAPTURE > rows.tsv
//	dnsdecode columns CAPTURE > rows.bin  (columns.go: the dns table's columns, binary)
//	dnsdecode split PKT_NUM CAPTURE PREFIX   (split.go: pieces as editcap -c cuts them)
//
// Exit status: 0 read to the end; 2 the file is missing, not a capture, damaged or cut
// short (the message says which, in tshark's words; the rows before the damage are
// printed); 3 a link type this program does not read (the caller uses tshark instead);
// 1 usage. Memory-safe Go and its standard library only: no C parses the packets.
package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strconv"
)

const header = "frame.time_epoch\tframe.len\tip.src\tip.dst\tdns.resp.name\tdns.resp.type\t" +
	"dns.resp.class\tdns.flags.rcode\tdns.a\tipv6.src\tipv6.dst\tdns.count.answers\t" +
	"dns.qry.name\tdns.qry.type\tdns.qry.class\n"

const prog = "dnsdecode"

// readable: the link types this program decodes (a switch: a map lookup per record cost
// 3% of the run).
func readable(link uint32) bool {
	switch link {
	case linkNull, linkEthernet, linkRaw, linkLoop, linkSLL, linkIPv4, linkIPv6, linkSLL2,
		linkRawBSD, linkRawOBSD:
		return true
	}
	return false
}

func main() {
	if len(os.Args) >= 2 && os.Args[1] == "split" {
		os.Exit(runSplit(os.Args[2:], os.Stdout, os.Stderr))
	}
	columns := len(os.Args) == 3 && os.Args[1] == "columns"
	path := os.Args[len(os.Args)-1]
	if !columns && len(os.Args) != 2 || path == "" || path[0] == '-' {
		fmt.Fprintf(os.Stderr, "usage: %s [columns] CAPTURE\n", prog)
		os.Exit(1)
	}
	// The heap is small and short-lived (buffers reused from frame to frame, a batch at a
	// time): collecting it a quarter as often cut a piece's CPU by about a fifth, for
	// about 2 MB more memory.
	debug.SetGCPercent(400)
	out := bufio.NewWriterSize(os.Stdout, 1<<20)
	var s sink = &textSink{out: out, line: make([]byte, 0, 1024)}
	if columns {
		s = newColumnSink(out)
	}
	code := run(path, s, os.Stderr)
	out.Flush()
	os.Exit(code)
}

// sink: where the rows go, as tshark's text (textSink) or as the table's columns
// (columns.go). start is called once the file is known to be a capture, or empty.
type sink interface {
	start()
	row(rec *record, f *fields)
	flush() // the rows so far written out, before an error ends the run
}

type textSink struct {
	out  *bufio.Writer
	line []byte
}

func (t *textSink) start() { t.out.WriteString(header) }
func (t *textSink) flush() {}
func (t *textSink) row(rec *record, f *fields) {
	t.line = appendRow(t.line[:0], rec, f)
	t.out.Write(t.line)
}

func run(path string, out sink, stderr io.Writer) int {
	file, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			fmt.Fprintf(stderr, "%s: The file \"%s\" doesn't exist.\n", prog, path)
		} else {
			fmt.Fprintf(stderr, "%s: The file \"%s\" could not be opened: %v.\n", prog, path, err)
		}
		return 2
	}
	defer file.Close()
	if info, err := file.Stat(); err == nil && info.IsDir() {
		fmt.Fprintf(stderr, "%s: \"%s\" is a directory (folder), not a file.\n", prog, path)
		return 2
	}
	in := bufio.NewReaderSize(file, 1<<20)
	capture, err := openCapture(in)
	if err == io.EOF {
		out.start()
		return 0
	}
	if err != nil { // tshark prints no header for a file it cannot open
		return failure(stderr, path, err)
	}
	out.start()
	var d decoder
	var rec record
	var f fields
	for {
		err := capture.next(&rec)
		if err == io.EOF {
			out.flush()
			return 0
		}
		if err != nil {
			out.flush()
			return failure(stderr, path, err)
		}
		if !readable(rec.link) {
			out.flush()
			fmt.Fprintf(stderr, "%s: The file \"%s\" holds link type %d, which %s does not "+
				"read.\n", prog, path, rec.link, prog)
			return 3
		}
		f.reset()
		d.frame(&rec, &f)
		if f.response {
			out.row(&rec, &f)
		}
	}
}

func failure(stderr io.Writer, path string, err error) int {
	what := "appears to be damaged or corrupt."
	switch err {
	case errNotCapture:
		what = "isn't a capture file in a format " + prog + " understands."
	case errCutShort:
		what = "appears to have been cut short in the middle of a packet."
	case errCutShortHeader:
		what = "appears to have been cut short in the middle of a packet or other data."
	}
	fmt.Fprintf(stderr, "%s: The file \"%s\" %s\n", prog, path, what)
	return 2
}

func appendRow(b []byte, rec *record, f *fields) []byte {
	if rec.stamped { // a simple packet block has no time: tshark prints none
		b = strconv.AppendInt(b, rec.sec, 10)
		b = append(b, '.')
		b = appendNanos(b, rec.nsec)
	}
	b = append(b, '\t')
	b = strconv.AppendUint(b, uint64(frameLen(rec)), 10)
	b = appendAddr(b, f, hasIPSrc, f.ipSrc[:])
	b = appendAddr(b, f, hasIPDst, f.ipDst[:])
	b = appendText(b, f, hasRespName, f.respName)
	b = appendInt(b, f, hasRespType, f.respType)
	b = appendClass(b, f, hasRespClass, f.respClass)
	b = appendInt(b, f, hasRcode, f.rcode)
	b = appendAddr(b, f, hasA, f.a[:])
	b = appendAddr(b, f, hasIP6Src, f.ip6Src[:])
	b = appendAddr(b, f, hasIP6Dst, f.ip6Dst[:])
	b = appendInt(b, f, hasAnswers, f.answers)
	b = appendText(b, f, hasQryName, f.qryName)
	b = appendInt(b, f, hasQryType, f.qryType)
	b = appendClass(b, f, hasQryClass, f.qryClass)
	return append(b, '\n')
}

// frameLen: the frame's length on the wire as tshark prints it (its frame tvb has an int
// length: at most 2^31-1).
func frameLen(rec *record) uint32 {
	if rec.origLen > 1<<31-1 {
		return 1<<31 - 1
	}
	return rec.origLen
}

// appendNanos: the fraction of a second as at least 9 digits, zero-padded on the left (in
// place for 0 <= nsec < 10^9; a damaged time stamp's larger value is printed whole).
func appendNanos(b []byte, nsec int64) []byte {
	if nsec >= 0 && nsec < 1e9 {
		var digits [9]byte
		for i := 8; i >= 0; i-- {
			digits[i] = byte('0' + nsec%10)
			nsec /= 10
		}
		return append(b, digits[:]...)
	}
	var scratch [24]byte
	ns := strconv.AppendInt(scratch[:0], nsec, 10)
	for i := len(ns); i < 9; i++ {
		b = append(b, '0')
	}
	return append(b, ns...)
}

func appendAddr(b []byte, f *fields, bit uint32, v []byte) []byte {
	b = append(b, '\t')
	if f.has&bit == 0 {
		return b
	}
	if len(v) == 4 {
		return appendIPv4(b, v)
	}
	return appendIPv6(b, v)
}

func appendText(b []byte, f *fields, bit uint32, v []byte) []byte {
	b = append(b, '\t')
	if f.has&bit != 0 {
		b = append(b, v...)
	}
	return b
}

func appendInt(b []byte, f *fields, bit uint32, v int) []byte {
	b = append(b, '\t')
	if f.has&bit != 0 {
		b = strconv.AppendInt(b, int64(v), 10)
	}
	return b
}

func appendClass(b []byte, f *fields, bit uint32, v int) []byte {
	b = append(b, '\t')
	if f.has&bit != 0 {
		b = append(b, '0', 'x')
		b = appendLowerHex(b, uint32(v), 4)
	}
	return b
}

func appendLowerHex(out []byte, v uint32, digits int) []byte {
	const hex = "0123456789abcdef"
	for k := digits - 1; k >= 0; k-- {
		out = append(out, hex[(v>>(4*uint(k)))&0xf])
	}
	return out
}
