// slowlink: a TCP proxy that makes a loopback server look like one across a network, for
// `python -m bench.s3 --link`: every byte arrives a fixed delay after it was sent (each direction),
// and each connection carries at most a given rate, as one connection to a cloud object store does.
//
//	slowlink -listen 127.0.0.1:0 -to 127.0.0.1:9000 -delay 10ms -rate 100 (MB/s per connection)
//
// It prints the address it listens on as its first line of output.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"time"
)

type piece struct {
	data []byte
	due  time.Time
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	to := flag.String("to", "", "address of the server")
	delay := flag.Duration("delay", 10*time.Millisecond, "one-way delay of every byte")
	rate := flag.Float64("rate", 100, "MB/s per connection and direction (0: unlimited)")
	flag.Parse()
	if *to == "" {
		log.Fatal("slowlink: -to is required")
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ln.Addr().String())
	os.Stdout.Sync()
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go serve(c, *to, *delay, *rate)
	}
}

func serve(c net.Conn, to string, delay time.Duration, rate float64) {
	u, err := net.Dial("tcp", to)
	if err != nil {
		c.Close()
		return
	}
	done := make(chan struct{}, 2)
	go pipe(u, c, delay, rate, done)
	go pipe(c, u, delay, rate, done)
	<-done
	<-done
	c.Close()
	u.Close()
}

// pipe copies src to dst: each piece is written no earlier than delay after it was read, and no
// faster than rate allows (the link's serialisation time is added to the piece's due time).
func pipe(dst, src net.Conn, delay time.Duration, rate float64, done chan<- struct{}) {
	queue := make(chan piece, 1024)
	go func() {
		defer close(queue)
		free := time.Now() // when the link is free to carry the next byte
		for {
			buf := make([]byte, 64<<10)
			n, err := src.Read(buf)
			if n > 0 {
				now := time.Now()
				if free.Before(now) {
					free = now
				}
				if rate > 0 {
					free = free.Add(time.Duration(float64(n) / (rate * 1e6) * float64(time.Second)))
				} else {
					free = now
				}
				queue <- piece{buf[:n], free.Add(delay)}
			}
			if err != nil {
				return
			}
		}
	}()
	for p := range queue {
		if wait := time.Until(p.due); wait > 0 {
			time.Sleep(wait)
		}
		if _, err := dst.Write(p.data); err != nil {
			break
		}
	}
	for range queue { // drain after a write error
	}
	if tc, ok := dst.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
	done <- struct{}{}
}
