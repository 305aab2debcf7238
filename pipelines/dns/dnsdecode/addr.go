package main

// Addresses as tshark prints them: dotted IPv4; IPv6 as glibc's inet_ntop writes it (the
// longest run of two or more zero groups as "::", the first of equal runs; an IPv4-mapped
// or IPv4-compatible address with its last 32 bits dotted).

import "strconv"

func appendIPv4(buf, b []byte) []byte {
	for i := 0; i < 4; i++ {
		if i > 0 {
			buf = append(buf, '.')
		}
		buf = appendOctet(buf, b[i])
	}
	return buf
}

// appendOctet: 0-255 in decimal without leading zeros (strconv.AppendUint per octet was
// 11% of the run).
func appendOctet(buf []byte, v byte) []byte {
	switch {
	case v >= 100:
		return append(buf, '0'+v/100, '0'+v/10%10, '0'+v%10)
	case v >= 10:
		return append(buf, '0'+v/10, '0'+v%10)
	}
	return append(buf, '0'+v)
}

func appendIPv6(buf, b []byte) []byte {
	var words [8]int
	for i := range words {
		words[i] = int(b[2*i])<<8 | int(b[2*i+1])
	}
	bestBase, bestLen, curBase, curLen := -1, 0, -1, 0
	for i, w := range words {
		if w == 0 {
			if curBase == -1 {
				curBase, curLen = i, 1
			} else {
				curLen++
			}
			continue
		}
		if curBase != -1 {
			if bestBase == -1 || curLen > bestLen {
				bestBase, bestLen = curBase, curLen
			}
			curBase = -1
		}
	}
	if curBase != -1 && (bestBase == -1 || curLen > bestLen) {
		bestBase, bestLen = curBase, curLen
	}
	if bestBase != -1 && bestLen < 2 {
		bestBase = -1
	}
	for i := 0; i < 8; i++ {
		if bestBase != -1 && i >= bestBase && i < bestBase+bestLen {
			if i == bestBase {
				buf = append(buf, ':')
			}
			continue
		}
		if i != 0 {
			buf = append(buf, ':')
		}
		if i == 6 && bestBase == 0 && (bestLen == 6 || (bestLen == 5 && words[5] == 0xffff)) {
			buf = appendIPv4(buf, b[12:16])
			break
		}
		buf = strconv.AppendUint(buf, uint64(words[i]), 16)
	}
	if bestBase != -1 && bestBase+bestLen == 8 {
		buf = append(buf, ':')
	}
	return buf
}
