// Package referraltest makes the uploads referral review's tests send: a
// phone's JPEG with an EXIF segment carrying a GPS marker, a decompression
// bomb, plain pictures. For tests only; it must never be imported by the
// server.
package referraltest

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"testing"
)

// Picture is a w×h image with a gradient, so its encodings are not trivial.
func Picture(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for x := 0; x < w; x++ {
		for y := 0; y < h; y++ {
			img.Set(x, y, color.RGBA{uint8(x * 7), uint8(y * 5), 90, 255})
		}
	}
	return img
}

// PNG encodes Picture(w, h).
func PNG(t testing.TB, w, h int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, Picture(w, h)); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// GPSMarker is written into JPEGWithEXIF's EXIF segment; no cleaned image
// may hold it.
const GPSMarker = "GPS-31.2304N-121.4737E-fairslot-marker"

// JPEGWithEXIF is a JPEG carrying an APP1 EXIF segment right after its SOI,
// as a phone's camera writes one, with GPSMarker in it.
func JPEGWithEXIF(t testing.TB) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, Picture(32, 24), nil); err != nil {
		t.Fatal(err)
	}
	payload := append([]byte("Exif\x00\x00"), GPSMarker...)
	seg := []byte{0xFF, 0xE1, 0, 0}
	binary.BigEndian.PutUint16(seg[2:], uint16(len(payload)+2))
	seg = append(seg, payload...)
	raw := b.Bytes()
	out := append(append(append([]byte{}, raw[:2]...), seg...), raw[2:]...)
	if _, err := jpeg.Decode(bytes.NewReader(out)); err != nil {
		t.Fatalf("the EXIF-laden JPEG does not decode: %v", err)
	}
	return out
}

// PNGBomb is a small valid PNG whose header claims w×h pixels: what a
// decompression bomb looks like before it is decoded.
func PNGBomb(t testing.TB, w, h uint32) []byte {
	t.Helper()
	raw := PNG(t, 1, 1)
	// signature (8), IHDR length (4), "IHDR" (4), width, height, ...; the
	// CRC covers the type and the 13 bytes of data.
	binary.BigEndian.PutUint32(raw[16:], w)
	binary.BigEndian.PutUint32(raw[20:], h)
	binary.BigEndian.PutUint32(raw[29:], crc32.ChecksumIEEE(raw[12:29]))
	return raw
}
