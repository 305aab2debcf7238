package main

// One frame, from its link layer to its DNS messages, as tshark 4.0 dissects it:
// Ethernet (with any stack of 802.1Q/802.1ad tags), Linux cooked v1 and v2, raw IP,
// BSD loopback; IPv4 (fragments reassembled in the frame that completes them, as tshark
// does) and IPv6 (extension headers, fragments); UDP and TCP to the dissector of the lower
// registered port first, then the higher (DNS on 53, mDNS on UDP 5353, LLMNR on UDP 5355,
// DNS on TCP 53 and 5353), and tshark's DNS heuristic on UDP between unregistered ports;
// ICMP and ICMPv6 errors quoting a UDP datagram.

import "encoding/binary"

const (
	linkNull     = 0
	linkEthernet = 1
	linkRaw      = 101
	linkLoop     = 108
	linkSLL      = 113
	linkIPv4     = 228
	linkIPv6     = 229
	linkSLL2     = 276
	linkRawBSD   = 12
	linkRawOBSD  = 14
)

const (
	protoICMP   = 1
	protoTCP    = 6
	protoUDP    = 17
	protoICMPv6 = 58
)

type decoder struct {
	names   nameReader
	scratch []byte // a name being read
	frags   fragments
	tcp     streams
	vlan    int
	errPkt  bool // inside an ICMP error: tshark's in_error_pkt
}

// frame dissects one record into f.
func (d *decoder) frame(rec *record, f *fields) {
	d.vlan = 0
	d.errPkt = false
	b := rec.data
	switch rec.link {
	case linkEthernet:
		if len(b) < 14 {
			return
		}
		d.ethertype(int(binary.BigEndian.Uint16(b[12:14])), b[14:], f)
	case linkSLL:
		if len(b) < 16 {
			return
		}
		d.ethertype(int(binary.BigEndian.Uint16(b[14:16])), b[16:], f)
	case linkSLL2:
		if len(b) < 20 {
			return
		}
		d.ethertype(int(binary.BigEndian.Uint16(b[0:2])), b[20:], f)
	case linkRaw, linkRawBSD, linkRawOBSD:
		if len(b) > 0 {
			d.ip(b, f)
		}
	case linkIPv4, linkIPv6:
		d.ip(b, f)
	case linkNull, linkLoop:
		if len(b) < 4 {
			return
		}
		family := binary.LittleEndian.Uint32(b[0:4])
		if rec.link == linkLoop || family > 0xffff {
			family = binary.BigEndian.Uint32(b[0:4])
		}
		switch family {
		case 2:
			d.ipv4(b[4:], f)
		case 10, 24, 28, 30:
			d.ipv6(b[4:], f)
		}
	}
}

func (d *decoder) ethertype(kind int, b []byte, f *fields) {
	for kind == 0x8100 || kind == 0x88a8 || kind == 0x9100 {
		if len(b) < 4 {
			return
		}
		d.vlan = int(binary.BigEndian.Uint16(b[0:2]) & 0x0fff)
		kind = int(binary.BigEndian.Uint16(b[2:4]))
		b = b[4:]
	}
	switch kind {
	case 0x0800:
		d.ipv4(b, f)
	case 0x86dd:
		d.ipv6(b, f)
	}
}

func (d *decoder) ip(b []byte, f *fields) {
	if len(b) == 0 {
		return
	}
	switch b[0] >> 4 {
	case 4:
		d.ipv4(b, f)
	case 6:
		d.ipv6(b, f)
	}
}

func (d *decoder) ipv4(b []byte, f *fields) {
	if len(b) < 1 {
		return
	}
	if b[0]>>4 != 4 {
		if b[0]>>4 == 6 {
			d.ipv6(b, f)
		}
		return
	}
	hlen := int(b[0]&0x0f) * 4
	if hlen < 20 || len(b) < 20 {
		return
	}
	total := int(binary.BigEndian.Uint16(b[2:4]))
	if total < hlen {
		if total != 0 {
			return
		}
		total = len(b) // TCP segmentation offload: tshark takes the packet's length
	}
	if f.set(hasIPSrc) {
		copy(f.ipSrc[:], b[12:16])
	}
	if f.set(hasIPDst) {
		copy(f.ipDst[:], b[16:20])
	}
	if total <= len(b) {
		b = b[:total]
	}
	if len(b) < hlen {
		return
	}
	proto := int(b[9])
	frag := int(binary.BigEndian.Uint16(b[6:8]))
	more, offset := frag&0x2000 != 0, (frag&0x1fff)*8
	payload := b[hlen:]
	if more || offset != 0 {
		if total > hlen && total <= len(b) && !d.errPkt {
			key := fragKey{v6: false, proto: proto, id: uint32(binary.BigEndian.Uint16(b[4:6]))}
			copy(key.src[:4], b[12:16])
			copy(key.dst[:4], b[16:20])
			if privateV4(b[12:16]) || privateV4(b[16:20]) {
				key.vlan = d.vlan
			}
			whole := d.frags.add(key, offset, payload, more)
			if whole == nil {
				return
			}
			payload = whole
		} else if offset != 0 {
			return
		}
	}
	if len(payload) > 0 {
		d.transport(proto, b[12:16], b[16:20], payload, f)
	}
}

func (d *decoder) ipv6(b []byte, f *fields) {
	if len(b) < 40 || b[0]>>4 != 6 {
		return
	}
	if f.set(hasIP6Src) {
		copy(f.ip6Src[:], b[8:24])
	}
	if f.set(hasIP6Dst) {
		copy(f.ip6Dst[:], b[24:40])
	}
	plen := int(binary.BigEndian.Uint16(b[4:6]))
	rest := b[40:]
	if plen != 0 && plen <= len(rest) {
		rest = rest[:plen]
	}
	next := int(b[6])
	for {
		switch next {
		case 0, 43, 60: // hop-by-hop, routing, destination options
			if len(rest) < 8 {
				return
			}
			n := (int(rest[1]) + 1) * 8
			if n > len(rest) {
				return
			}
			next, rest = int(rest[0]), rest[n:]
			continue
		case 44: // fragment
			if len(rest) < 8 {
				return
			}
			frag := int(binary.BigEndian.Uint16(rest[2:4]))
			offset, more := frag&0xfff8, frag&1 != 0
			id := binary.BigEndian.Uint32(rest[4:8])
			proto := int(rest[0])
			data := rest[8:]
			if more || offset != 0 {
				if d.errPkt {
					return
				}
				key := fragKey{v6: true, proto: proto, id: id}
				copy(key.src[:], b[8:24])
				copy(key.dst[:], b[24:40])
				whole := d.frags.add(key, offset, data, more)
				if whole == nil {
					return
				}
				data = whole
			}
			next, rest = proto, data
			continue
		}
		break
	}
	if len(rest) > 0 || next == protoUDP {
		d.transport(next, b[8:24], b[24:40], rest, f)
	}
}

func (d *decoder) transport(proto int, src, dst, b []byte, f *fields) {
	switch proto {
	case protoUDP:
		d.udp(b, f)
	case protoTCP:
		if !d.errPkt {
			d.tcpSegment(src, dst, b, f)
		}
	case protoICMP:
		if len(b) >= 8 && !d.errPkt && icmpError(b[0]) {
			d.errPkt = true
			d.ipv4(b[8:], f)
		}
	case protoICMPv6:
		if len(b) >= 8 && !d.errPkt && b[0] >= 1 && b[0] <= 4 {
			d.errPkt = true
			d.ipv6(b[8:], f)
		}
	}
}

func icmpError(kind byte) bool {
	return kind == 3 || kind == 4 || kind == 5 || kind == 11 || kind == 12
}

func (d *decoder) udp(b []byte, f *fields) {
	if len(b) < 8 {
		return
	}
	sport, dport := binary.BigEndian.Uint16(b[0:2]), binary.BigEndian.Uint16(b[2:4])
	ulen := int(binary.BigEndian.Uint16(b[4:6]))
	if ulen == 0 && len(b) > 0 {
		ulen = len(b) // IPv6 jumbogram; tshark takes the payload's length
	}
	if ulen < 8 || ulen == 8 {
		return
	}
	payload := b[8:]
	if ulen-8 < len(payload) {
		payload = payload[:ulen-8]
	}
	if d.errPkt && len(payload) == 0 {
		return
	}
	kind, ok := udpDissector(sport, dport, payload)
	if ok {
		d.message(payload, 0, kind, f)
	}
}

// udpDissector is decode_udp_ports: the lower port's dissector, else the higher's, else
// the heuristics (of which only DNS's is known here).
// portBits: a set of ports as bits, read once per datagram (a map lookup there cost 3% of a
// run); built from the generated tables in ports.go.
type portBits [1024]uint64

func portSet(ports map[uint16]bool) *portBits {
	var set portBits
	for port, on := range ports {
		if on {
			set[port>>6] |= 1 << (port & 63)
		}
	}
	return &set
}

func (s *portBits) has(port uint16) bool { return s[port>>6]&(1<<(port&63)) != 0 }

var udpPorts, tcpPorts = portSet(udpRegistered), portSet(tcpRegistered)

func udpDissector(sport, dport uint16, payload []byte) (flavour, bool) {
	low, high := sport, dport
	if low > high {
		low, high = high, low
	}
	for _, port := range [2]uint16{low, high} {
		if port == 0 || !udpPorts.has(port) {
			continue
		}
		switch port {
		case 53:
			return plainDNS, true
		case 5353:
			return mDNS, true
		case 5355:
			return llmnr, true
		}
		return 0, false // another protocol's port
	}
	return plainDNS, dnsHeuristic(payload)
}

// dnsHeuristic is tshark's dns_udp heuristic (packet-dns.c dissect_dns_heur).
func dnsHeuristic(b []byte) bool {
	if len(b) <= 12 {
		return false
	}
	flags := binary.BigEndian.Uint16(b[2:4])
	if flags&0x7800 != 0 {
		return false
	}
	quest, ans := binary.BigEndian.Uint16(b[4:6]), binary.BigEndian.Uint16(b[6:8])
	auth, add := binary.BigEndian.Uint16(b[8:10]), binary.BigEndian.Uint16(b[10:12])
	if flags&0x8000 == 0 {
		if quest != 1 || ans != 0 || auth != 0 {
			return false
		}
	} else if quest > 1 || ans > 100 || auth > 10 {
		return false
	}
	return add <= 10
}

func privateV4(a []byte) bool {
	return a[0] == 10 || (a[0] == 172 && a[1]&0xf0 == 16) || (a[0] == 192 && a[1] == 168) ||
		(a[0] == 169 && a[1] == 254)
}
