// Package winograd computes 3x3 convolutions of stride 1 and padding 1 on
// channels-last maps with Winograd's minimal filtering F(4x4, 3x3)
// (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks",
// 2015): each 4x4 block of outputs, a tile, comes from the 6x6 block of
// inputs under it through 36 products per pair of channels where a direct
// convolution takes 144. The direct kernels already run at the core's
// multiply-add rate on a ResNet's 16- and 32-channel convolutions, so
// fewer multiplies is the one way left to make them faster.
//
// A convolution is three stages over an image's tiles:
//
//   - the input transform: V = Bᵀ d B for each tile's 6x6 input d, a
//     vector of channels at a time, into V[ξ][tile][In] for the 36
//     positions ξ of the transformed tile;
//   - 36 matrix products, M[ξ] = V[ξ] · U[ξ], U = G g Gᵀ the transformed
//     weights ([ξ][In][Out], Weights), made once;
//   - the output transform: Aᵀ M A, plus the bias, plus a residual map
//     (a ResNet's shortcut) if given, then a Relu if asked, written to the
//     tile's outputs, the outputs past the map's edge left out.
//
// Contract: the input is padded, with (TilesY*4+2) rows of (TilesX*4+2)
// pixels of In floats, the map's pixel (y, x) at row y+1, column x+1,
// and every other pixel zero (Pad writes the interior only, so a buffer
// made zero keeps its border). The output and the residual are [H][W][Out].
// In and Out are multiples of 8. The results differ from a direct
// convolution's by rounding, relative errors of a few 1e-6 at these sizes
// (the transforms' constants are 1/4, 1/6, 1/12, 1/24 and up to 8).
//
// On amd64 the three stages are assembly, AVX-512 where In and Out are
// multiples of 16 and AVX2 otherwise, picked at run time; elsewhere, or
// with the tag purego, Go.
//
// IntConv is the same convolution on 8-bit integers, exactly: the int32
// sums of a QLinearConv, from transforms in 16-bit integers and products
// by VPDPWSSD (AVX-512 VNNI), half the time of the direct int8 kernels'
// VPDPBUSD. Its kernels pool 2x2 and 4x4 windows in the output transform,
// and ForwardImages takes many images' tiles into one product, for maps
// of one tile. Without VNNI its kernels are Go's, slower than the direct
// ones, which callers then keep (IntConv.Fast).
package winograd
