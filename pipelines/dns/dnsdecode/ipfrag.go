package main

// IP fragments reassembled as tshark does by default (ip.defragment, ipv6.defragment):
// the datagram is dissected in the frame whose fragment completes it, and only there.

type fragKey struct {
	v6       bool
	src, dst [16]byte
	proto    int
	id       uint32
	vlan     int
}

type fragPiece struct {
	offset int
	data   []byte
}

type datagram struct {
	pieces []fragPiece
	end    int // the length, once the last fragment was seen; -1 before
}

type fragments struct {
	pending map[fragKey]*datagram
	buf     []byte
}

const maxDatagrams = 65536 // a bound for hostile input: past it, pending datagrams are dropped

// add stores a fragment; it returns the whole payload when this fragment completes it.
func (fr *fragments) add(key fragKey, offset int, data []byte, more bool) []byte {
	if fr.pending == nil || len(fr.pending) >= maxDatagrams {
		fr.pending = make(map[fragKey]*datagram)
	}
	dg := fr.pending[key]
	if dg == nil {
		dg = &datagram{end: -1}
		fr.pending[key] = dg
	}
	dg.pieces = append(dg.pieces, fragPiece{offset, append([]byte(nil), data...)})
	if !more {
		dg.end = offset + len(data)
	}
	if dg.end < 0 {
		return nil
	}
	reach := 0
	for progress := true; progress && reach < dg.end; {
		progress = false
		for _, p := range dg.pieces {
			if p.offset <= reach && p.offset+len(p.data) > reach {
				reach = p.offset + len(p.data)
				progress = true
			}
		}
	}
	if reach < dg.end {
		return nil
	}
	delete(fr.pending, key)
	if cap(fr.buf) < dg.end {
		fr.buf = make([]byte, dg.end)
	}
	whole := fr.buf[:dg.end]
	for _, p := range dg.pieces { // in arrival order: a later copy of a byte wins
		if p.offset < dg.end {
			n := len(p.data)
			if p.offset+n > dg.end {
				n = dg.end - p.offset
			}
			copy(whole[p.offset:], p.data[:n])
		}
	}
	return whole
}
