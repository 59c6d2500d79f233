package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"

	"golang.org/x/net/dns/dnsmessage"
)

// dnsName asks the first name server of /etc/resolv.conf for the name of
// ip (a PTR query) and returns its first label: in a compose network,
// Docker's DNS answers <container name>.<network>.
func dnsName(ctx context.Context, ip string) (string, error) {
	conf, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		return "", err
	}
	var server string
	for _, line := range strings.Split(string(conf), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "nameserver" {
			server = f[1]
			break
		}
	}
	addr, err := netip.ParseAddr(ip)
	if err != nil || server == "" || !addr.Is4() {
		return "", fmt.Errorf("no name server or no IPv4 address (%q, %q)", server, ip)
	}
	b := addr.As4()
	q, err := dnsmessage.NewName(fmt.Sprintf("%d.%d.%d.%d.in-addr.arpa.", b[3], b[2], b[1], b[0]))
	if err != nil {
		return "", err
	}
	msg := dnsmessage.Message{Header: dnsmessage.Header{ID: 0x1ab, RecursionDesired: true},
		Questions: []dnsmessage.Question{{Name: q, Type: dnsmessage.TypePTR, Class: dnsmessage.ClassINET}}}
	query, err := msg.Pack()
	if err != nil {
		return "", err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "udp", net.JoinHostPort(server, "53"))
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if _, err := conn.Write(query); err != nil {
		return "", err
	}
	buf := make([]byte, 1500)
	n, err := conn.Read(buf)
	if err != nil {
		return "", err
	}
	var resp dnsmessage.Message
	if err := resp.Unpack(buf[:n]); err != nil {
		return "", err
	}
	for _, a := range resp.Answers {
		if ptr, ok := a.Body.(*dnsmessage.PTRResource); ok {
			name, _, _ := strings.Cut(ptr.PTR.String(), ".")
			return name, nil
		}
	}
	return "", errors.New("no PTR record")
}
