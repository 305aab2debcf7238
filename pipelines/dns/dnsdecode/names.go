package main

// DNS names as tshark 4.0 reads and prints them (packet-dns.c expand_dns_name and
// get_dns_name, epan/strutil.c format_text): labels joined by dots into at most 254
// bytes, compression pointers followed forwards and backwards relative to the start of
// the message, a pointer loop named "<Name contains a pointer that loops>" after 256
// pointers (or at once for a pointer two bytes past its own end, tshark's check), a name
// too long for 254 bytes "<Name too long>", the empty name "<Root>"; every read past the
// end of the message stops the message there, as tshark's exception does.

import (
	"strconv"
	"unicode"
	"unicode/utf8"
)

const (
	maxDnameLen = 255
	minDnameLen = 2
)

const (
	nameLoops    = "<Name contains a pointer that loops>"
	nameTooLong  = "<Name too long>"
	nameRoot     = "<Root>"
	nameExtended = "<Unknown extended label>"
)

// nameReader holds the scratch buffers of one decoder (no allocation per name).
type nameReader struct {
	raw []byte
}

// read expands the name at offset of msg (pointers relative to base), prints it into *out
// as tshark prints it (unless out is nil), and returns the bytes it occupies where it
// starts, and false where tshark throws.
func (r *nameReader) read(msg []byte, offset, base int, out *[]byte) (int, bool) {
	name, nameLen, used, special, ok := r.expand(msg, offset, base)
	if !ok {
		return 0, false
	}
	if special == "" && (nameLen == 0 || name[0] == 0) && used <= minDnameLen {
		special = nameRoot
		if out != nil {
			*out = append((*out)[:0], nameRoot...)
		}
		return used, true
	}
	if special != "" {
		nameLen = len(special)
	}
	if used < minDnameLen || (used > minDnameLen && nameLen == 0) {
		return 0, false
	}
	if out != nil {
		if special != "" {
			*out = append((*out)[:0], special...)
		} else {
			*out = r.format((*out)[:0], name[:nameLen])
		}
	}
	return used, true
}

func (r *nameReader) expand(t []byte, offset, base int) ([]byte, int, int, string, bool) {
	start := offset
	np := r.raw[:0]
	maxname := maxDnameLen
	nameLen := 0
	length := -1
	pointers := 0
	put := func(s string) { // snprintf into what is left of the buffer
		if maxname > 0 {
			if len(s) <= maxname {
				np = append(np, s...)
				maxname -= len(s)
			} else {
				maxname = 0
			}
		}
	}
	for {
		if offset >= len(t) {
			return nil, 0, 0, "", false
		}
		c := int(t[offset])
		offset++
		if c == 0 {
			break
		}
		switch c & 0xc0 {
		case 0x00:
			if len(np) > 0 {
				if maxname > 0 {
					np = append(np, '.')
					nameLen++
					maxname--
				}
			} else {
				maxname--
			}
			// the label's bytes while the name has room (each of those must be in the
			// message); the rest of the label is skipped unread
			take := c
			if take > maxname {
				take = maxname
			}
			if take < 0 {
				take = 0
			}
			if offset+take > len(t) {
				return nil, 0, 0, "", false
			}
			np = append(np, t[offset:offset+take]...)
			nameLen += take
			maxname -= take
			offset += c
		case 0x40:
			if c&0x3f != 0x01 {
				used := offset - start
				if used < 1 {
					return nil, 0, 0, "", false
				}
				r.raw = np
				return np, nameLen, used, nameExtended, true
			}
			if offset >= len(t) {
				return nil, 0, 0, "", false
			}
			bits := int(t[offset])
			offset++
			put("\\[x")
			for n := (bits-1)/8 + 1; n > 0; n-- {
				if maxname > 0 {
					if offset >= len(t) {
						return nil, 0, 0, "", false
					}
					put(hex2(t[offset]))
				}
				offset++
			}
			put("/" + strconv.Itoa(bits) + "]")
		case 0x80:
			return nil, 0, 0, "", false
		case 0xc0:
			if offset >= len(t) {
				return nil, 0, 0, "", false
			}
			indir := base + ((c&0x3f)<<8 | int(t[offset]))
			offset++
			pointers++
			if length < 0 {
				length = offset - start
			}
			if indir == offset+2 || pointers > maxDnameLen {
				if length < 1 {
					return nil, 0, 0, "", false
				}
				r.raw = np
				return np, nameLen, length, nameLoops, true
			}
			offset = indir
			if offset < 0 {
				return nil, 0, 0, "", false
			}
		}
	}
	if length < 0 {
		length = offset - start
	}
	r.raw = np
	if maxname <= 0 {
		return np, nameLen, length, nameTooLong, true
	}
	return np, nameLen, length, "", true
}

func hex2(b byte) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[b>>4], digits[b&15]})
}

// format is format_text: printable ASCII as is, C escapes and \ooo for other ASCII
// controls, valid UTF-8 kept when printable, \uXXXX for other characters, U+FFFD for
// bytes that are not UTF-8.
func (r *nameReader) format(out, s []byte) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		i++
		if c >= 0x20 && c < 0x7f {
			out = append(out, c)
			continue
		}
		if c < 0x80 {
			out = appendControl(out, c)
			continue
		}
		var uc rune
		n, mask := -1, byte(0)
		switch {
		case c&0xe0 == 0xc0:
			n, mask = 1, 0x1f
		case c&0xf0 == 0xe0:
			n, mask = 2, 0x0f
		case c&0xf8 == 0xf0:
			n, mask = 3, 0x07
		case c&0xfc == 0xf8:
			n, mask = 4, 0x03
		case c&0xfe == 0xfc:
			n, mask = 5, 0x01
		}
		last := c
		if n > 0 {
			v := int64(c & mask)
			bad := false
			for k := 0; k < n; k++ {
				if i >= len(s) || s[i]&0xc0 != 0x80 {
					bad = true
					if i < len(s) {
						last = s[i]
					}
					break
				}
				last = s[i]
				v = v<<6 | int64(s[i]&0x3f)
				i++
			}
			if bad || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff) {
				uc = 0xfffd
			} else {
				uc = rune(v)
			}
		} else {
			uc = 0xfffd
		}
		switch {
		case isPrint(uc):
			out = utf8.AppendRune(out, uc)
		case last < 0x80:
			out = appendControl(out, last)
		case uc <= 0xffff:
			out = append(out, '\\', 'u')
			out = appendHex(out, uint32(uc), 4)
		default:
			out = append(out, '\\', 'U')
			out = appendHex(out, uint32(uc), 8)
		}
	}
	return out
}

// isPrint is GLib's g_unichar_isprint: anything but controls, format characters,
// surrogates and unassigned code points.
func isPrint(uc rune) bool {
	if uc < 0x20 || uc == 0x7f {
		return false
	}
	if unicode.Is(unicode.Cc, uc) || unicode.Is(unicode.Cf, uc) || unicode.Is(unicode.Cs, uc) {
		return false
	}
	return unicode.In(uc, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S, unicode.Z,
		unicode.Co)
}

func appendControl(out []byte, c byte) []byte {
	out = append(out, '\\')
	switch c {
	case '\a':
		return append(out, 'a')
	case '\b':
		return append(out, 'b')
	case '\f':
		return append(out, 'f')
	case '\n':
		return append(out, 'n')
	case '\r':
		return append(out, 'r')
	case '\t':
		return append(out, 't')
	case '\v':
		return append(out, 'v')
	}
	return append(out, '0'+(c>>6)&3, '0'+(c>>3)&7, '0'+c&7)
}

func appendHex(out []byte, v uint32, digits int) []byte {
	const hex = "0123456789ABCDEF"
	for k := digits - 1; k >= 0; k-- {
		out = append(out, hex[(v>>(4*uint(k)))&0xf])
	}
	return out
}
