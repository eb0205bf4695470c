package serve_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/lenetkit/lenetkit/serve"
)

// A server of one model, asked what a picture of a digit shows.
func Example() {
	s, err := serve.New([]serve.ModelSpec{{Name: "lenet", Path: "../testdata/lenet_trained.pth"}}, serve.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, l) }()

	pic, err := os.Open("../testdata/images/clean/00000.png")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer pic.Close()
	resp, err := http.Post("http://"+l.Addr().String()+"/v1/classify?top=2", "image/png", pic)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	var answer struct {
		Model   string
		Results []struct {
			Label       string
			Probability float64
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil {
		fmt.Println(err)
		return
	}
	r := answer.Results[0]
	fmt.Printf("%s says %s (probability over 0.9: %v)\n", answer.Model, r.Label, r.Probability > 0.9)

	// Stopping drains: requests under way are answered first.
	stop()
	select {
	case err := <-served:
		fmt.Println("stopped:", err)
	case <-time.After(30 * time.Second):
		fmt.Println("not stopped")
	}
	// Output:
	// lenet says 7 (probability over 0.9: true)
	// stopped: <nil>
}
