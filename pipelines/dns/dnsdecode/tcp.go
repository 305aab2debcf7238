package main

// DNS over TCP as tshark 4.0 reads it: its sequence analysis (packet-tcp.c
// tcp_analyze_sequence_number, absolute numbers) decides which segments are dissected - a
// keep-alive, a spurious retransmission (data the other side already acknowledged) and a
// segment that does not advance the sequence (a retransmission or out of order) are not -
// and the dissected segments of each direction are joined into two-byte-length PDUs
// (tcp_dissect_pdus): several messages in one segment, one message over several. A PDU
// whose middle was never captured never completes; the data after its end is read anew.

import "encoding/binary"

const (
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04
	tcpACK = 0x10
)

type flowKey struct {
	src, dst     [16]byte
	sport, dport uint16
}

type direction struct {
	nextseq, lastack uint32
	synSeq           uint32
	sawSyn           bool
	pending          []byte // the start of a PDU not yet complete
	pendingSeq       uint32 // the sequence number of pending[0]
	pduEnd           uint32 // where that PDU ends, when its length is known
	endKnown         bool
	dead             bool // a segment of that PDU was never seen
}

type streams struct {
	flows map[flowKey]*direction
}

const maxFlows = 1 << 20 // a bound for hostile input: past it, state starts afresh

func (s *streams) get(k flowKey) *direction {
	if s.flows == nil || len(s.flows) >= maxFlows {
		s.flows = make(map[flowKey]*direction)
	}
	dir := s.flows[k]
	if dir == nil {
		dir = &direction{}
		s.flows[k] = dir
	}
	return dir
}

func lt(a, b uint32) bool { return int32(a-b) < 0 }
func le(a, b uint32) bool { return int32(a-b) <= 0 }
func gt(a, b uint32) bool { return int32(a-b) > 0 }

func (d *decoder) tcpSegment(src, dst, b []byte, f *fields) {
	if len(b) < 20 {
		return
	}
	hl := int(b[12]>>4) * 4
	if hl < 20 || hl > len(b) {
		return
	}
	var key flowKey
	copy(key.src[:], src)
	copy(key.dst[:], dst)
	key.sport, key.dport = binary.BigEndian.Uint16(b[0:2]), binary.BigEndian.Uint16(b[2:4])
	back := flowKey{src: key.dst, dst: key.src, sport: key.dport, dport: key.sport}
	seq, ack := binary.BigEndian.Uint32(b[4:8]), binary.BigEndian.Uint32(b[8:12])
	flags := b[13]
	payload := b[hl:]
	seglen := uint32(len(payload))
	fwd, rev := d.tcp.get(key), d.tcp.get(back)
	if flags&tcpSYN != 0 && flags&tcpACK == 0 && fwd.sawSyn && seq != fwd.synSeq {
		*fwd, *rev = direction{}, direction{} // the port pair reused for a new connection
	}
	if flags&tcpSYN != 0 {
		fwd.sawSyn, fwd.synSeq = true, seq
	}
	dissect := seglen > 0
	if seglen <= 1 && seq == fwd.nextseq-1 && flags&(tcpSYN|tcpFIN|tcpRST) == 0 {
		dissect = false // keep-alive
	} else if seglen > 0 || flags&(tcpSYN|tcpFIN) != 0 {
		notAdvanced := fwd.nextseq != 0 && lt(seq, fwd.nextseq)
		if seglen > 1 && fwd.nextseq-1 == seq {
			notAdvanced = false
		}
		if seglen > 0 && rev.lastack != 0 && le(seq+seglen, rev.lastack) {
			dissect = false // spurious retransmission
		} else if notAdvanced {
			dissect = false // retransmission or out of order
		}
	}
	next := seq + seglen
	if (seglen > 0 || flags&(tcpSYN|tcpFIN) != 0) && flags&(tcpSYN|tcpFIN) != 0 {
		next++
	}
	if gt(next, fwd.nextseq) || fwd.nextseq == 0 {
		fwd.nextseq = next
	}
	fwd.lastack = ack
	if !dissect || !tcpIsDNS(key.sport, key.dport) {
		return
	}
	d.pdus(fwd, seq, payload, f)
}

// tcpIsDNS: the lower registered port decides, then the higher (DNS on 53 and 5353).
func tcpIsDNS(sport, dport uint16) bool {
	low, high := sport, dport
	if low > high {
		low, high = high, low
	}
	for _, port := range [2]uint16{low, high} {
		if port != 0 && tcpPorts.has(port) {
			return port == 53 || port == 5353
		}
	}
	return false
}

func (d *decoder) pdus(st *direction, seq uint32, payload []byte, f *fields) {
	data := payload
	if st.pending != nil {
		pendingNext := st.pendingSeq + uint32(len(st.pending))
		if !st.dead && seq == pendingNext {
			data = append(st.pending, payload...)
			seq = st.pendingSeq
		} else if st.endKnown && lt(seq, st.pduEnd) {
			// a gap inside the PDU: it can never complete; what follows its end is new
			st.dead = true
			skip := st.pduEnd - seq
			if uint32(len(payload)) <= skip {
				return
			}
			data, seq = payload[skip:], st.pduEnd
		}
		st.pending, st.endKnown, st.dead = nil, false, false
	}
	off := 0
	for off < len(data) {
		if len(data)-off < 2 {
			st.keep(data[off:], seq+uint32(off), false, 0)
			return
		}
		plen := int(binary.BigEndian.Uint16(data[off:])) + 2
		if off+plen > len(data) {
			st.keep(data[off:], seq+uint32(off), true, seq+uint32(off+plen))
			return
		}
		d.message(data[off:off+plen], 2, plainDNS, f)
		off += plen
	}
}

func (st *direction) keep(b []byte, seq uint32, endKnown bool, end uint32) {
	st.pending = append(make([]byte, 0, len(b)+512), b...)
	st.pendingSeq, st.endKnown, st.pduEnd = seq, endKnown, end
}
