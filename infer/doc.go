// Package infer runs a LeNet model of any format on digit images, prepared
// as MNIST's digits were by package digit, and on MNIST, and measures it.
package infer
