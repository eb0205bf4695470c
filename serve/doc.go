// Package serve answers classification requests over HTTP for the models
// lenetkit reads: the Open Inference Protocol's REST routes (KServe's v2)
// for tensors, a route of its own for image files, the drawing page, and
// Prometheus metrics; and, with ServeGRPC, the same protocol's gRPC
// service, from the same models and batchers.
//
// Requests for a model that arrive together run as one batch: each model
// has one goroutine that runs it (an infer.Model keeps scratch buffers and
// is not safe for concurrent use), fed by a queue of bounded size, so that
// a burst of requests costs one pass of the network rather than one each,
// and an overload is answered at once with 503 rather than queued without
// end.
//
// Every refusal is a 4xx or 5xx with a JSON body {"error": "..."} that
// names what is wrong and what to do, as the protocol's error object has
// it; no input stops the server.
package serve
