package referral

import (
	"bytes"
	"image"
	"image/jpeg"
	"image/png"

	"github.com/fairslot/fairslot"
)

// Image limits: a photo of a rash or a scan from a phone fits; a
// decompression bomb (a small file that decodes to gigabytes) does not.
const (
	MaxImageBytes  = 5 << 20    // per file, as uploaded
	MaxImagePixels = 40_000_000 // width × height, checked before decoding
	MaxImageSide   = 12_000     // either side, in pixels
	jpegQuality    = 90         // re-encoding keeps a clinician's detail
)

// Image is an uploaded image after Clean: re-encoded, its metadata gone.
type Image struct {
	Type          string // "image/jpeg" or "image/png"
	Width, Height int
	Data          []byte
}

// Clean checks an uploaded image and re-encodes it with the standard
// library: its type by content (JPEG or PNG, whatever the file's name or
// declared type says), its size, and its dimensions from the header before
// anything is decoded. Re-encoding writes pixels only, so EXIF (a phone's
// GPS position, its owner's name), XMP and comments in the upload are
// gone. The error says which of the patient's files (1-based n) is refused.
func Clean(n int, data []byte) (Image, error) {
	if len(data) > MaxImageBytes {
		return Image{}, fairslot.E(fairslot.Invalid, "error.referral.image_large", "image %d is larger than %d MiB", n, MaxImageBytes>>20).On("images")
	}
	if len(data) == 0 {
		return Image{}, fairslot.E(fairslot.Invalid, "error.referral.image_empty", "image %d is empty", n).On("images")
	}
	typ := sniff(data)
	if typ != "image/jpeg" && typ != "image/png" {
		return Image{}, fairslot.E(fairslot.Invalid, "error.referral.image_type", "image %d is not a JPEG or PNG picture", n).On("images")
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil || "image/"+format != typ {
		return Image{}, fairslot.E(fairslot.Invalid, "error.referral.image_broken", "image %d cannot be read as a picture", n).On("images")
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width > MaxImageSide || cfg.Height > MaxImageSide ||
		int64(cfg.Width)*int64(cfg.Height) > MaxImagePixels {
		return Image{}, fairslot.E(fairslot.Invalid, "error.referral.image_pixels", "image %d has too many pixels (at most %d by %d)", n, MaxImageSide, MaxImageSide).On("images")
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return Image{}, fairslot.E(fairslot.Invalid, "error.referral.image_broken", "image %d cannot be read as a picture", n).On("images")
	}
	var out bytes.Buffer
	switch typ {
	case "image/jpeg":
		err = jpeg.Encode(&out, img, &jpeg.Options{Quality: jpegQuality})
	default:
		err = (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&out, img)
	}
	if err != nil {
		return Image{}, fairslot.E(fairslot.Invalid, "error.referral.image_broken", "image %d cannot be read as a picture", n).On("images")
	}
	b := img.Bounds()
	return Image{Type: typ, Width: b.Dx(), Height: b.Dy(), Data: out.Bytes()}, nil
}

// StoredType reports whether t is a type Clean produces: what the page
// that serves an image sends as its Content-Type, and nothing else.
func StoredType(t string) bool { return t == "image/jpeg" || t == "image/png" }

// sniff names an upload's type by its first bytes (as net/http's
// DetectContentType would for these two), never by what the client said.
func sniff(data []byte) string {
	switch {
	case bytes.HasPrefix(data, []byte{0xFF, 0xD8, 0xFF}):
		return "image/jpeg"
	case bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")):
		return "image/png"
	}
	return ""
}
