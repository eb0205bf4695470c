// Package digit makes pictures of digits into the input a digit classifier
// takes, as MNIST's digits were made: grey, light ink on black, cropped to
// the ink, scaled into 20x20 and centred by mass in 28x28, then padded to
// the seed LeNet's 1x32x32 floats in [0, 1]. It reads a picture as a person
// would, a clean drawing, a photograph of paper under uneven light or a
// stroke on a transparent layer alike, and reports what makes its answer
// doubtful: several marks, as in "42", or paper that may have been taken
// for ink.
//
// Decode reads PNG, JPEG, GIF and BMP within a bound on size, checked from
// the header before any pixel is decoded; Prepare makes the picture into a
// digit, and Fill the digit into the model's input. Preprocess, LoadImage
// and LoadDigit do those steps together. Package infer classifies what it
// makes, package dataset trains on it, and package serve answers requests
// with it, so that a digit is prepared the same way wherever it comes from.
package digit
