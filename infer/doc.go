// Package infer runs a LeNet model of any format on digit images and on MNIST, and measures it.
package infer
