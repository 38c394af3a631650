package referral

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"testing"

	"github.com/fairslot/fairslot"
)

func picture(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for x := 0; x < w; x++ {
		for y := 0; y < h; y++ {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), 90, 255})
		}
	}
	return img
}

// GPSMarker is written into the test's EXIF segment; no cleaned image may hold it.
const GPSMarker = "GPS-31.2304N-121.4737E-fairslot-marker"

// JPEGWithEXIF is a JPEG carrying an APP1 EXIF segment right after its SOI,
// as a phone's camera writes one.
func JPEGWithEXIF(t testing.TB) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, picture(32, 24), nil); err != nil {
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

// PNGBomb is a valid small PNG whose header claims w×h pixels: what a
// decompression bomb looks like before it is decoded.
func PNGBomb(t testing.TB, w, h uint32) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, picture(1, 1)); err != nil {
		t.Fatal(err)
	}
	raw := b.Bytes()
	// signature (8), IHDR length (4), "IHDR" (4), width, height ...; CRC over type and data (17 bytes).
	binary.BigEndian.PutUint32(raw[16:], w)
	binary.BigEndian.PutUint32(raw[20:], h)
	binary.BigEndian.PutUint32(raw[29:], crc32.ChecksumIEEE(raw[12:29]))
	return raw
}

func TestClean(t *testing.T) {
	var pngb, gifb bytes.Buffer
	png.Encode(&pngb, picture(20, 10))
	gif.Encode(&gifb, picture(8, 8), nil)
	exif := JPEGWithEXIF(t)
	tests := []struct {
		name string
		data []byte
		key  string
		typ  string
	}{
		{"exif jpeg", exif, "", "image/jpeg"},
		{"png", pngb.Bytes(), "", "image/png"},
		{"gif", gifb.Bytes(), "error.referral.image_type", ""},
		{"text named .jpg", []byte("#!/bin/sh\necho hello, I am a picture\n"), "error.referral.image_type", ""},
		{"empty", nil, "error.referral.image_empty", ""},
		{"oversized", append(bytes.Clone(exif), make([]byte, MaxImageBytes)...), "error.referral.image_large", ""},
		{"bomb", PNGBomb(t, 60000, 60000), "error.referral.image_pixels", ""},
		{"wide", PNGBomb(t, MaxImageSide+1, 1), "error.referral.image_pixels", ""},
		{"truncated jpeg", exif[:len(exif)/2], "error.referral.image_broken", ""},
		{"jpeg magic, png body", append([]byte{0xFF, 0xD8, 0xFF}, pngb.Bytes()...), "error.referral.image_broken", ""},
	}
	for _, tt := range tests {
		img, err := Clean(2, tt.data)
		key, args := fairslot.ErrorKey(err)
		if (err == nil) != (tt.key == "") || (err != nil && key != tt.key) {
			t.Errorf("%s: Clean = %v, want key %q", tt.name, err, tt.key)
			continue
		}
		if err != nil {
			if len(args) == 0 || args[0] != 2 || fairslot.ErrorField(err) != "images" {
				t.Errorf("%s: error %v does not name image 2 on the images field", tt.name, err)
			}
			continue
		}
		if img.Type != tt.typ || !StoredType(img.Type) {
			t.Errorf("%s: type %q, want %q", tt.name, img.Type, tt.typ)
		}
		if _, _, err := image.Decode(bytes.NewReader(img.Data)); err != nil {
			t.Errorf("%s: the cleaned image does not decode: %v", tt.name, err)
		}
	}
}

func TestCleanStripsEXIF(t *testing.T) {
	in := JPEGWithEXIF(t)
	if !bytes.Contains(in, []byte(GPSMarker)) || !bytes.Contains(in, []byte("Exif\x00")) {
		t.Fatal("the test's upload has no EXIF segment to strip")
	}
	img, err := Clean(1, in)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(img.Data, []byte(GPSMarker)) || bytes.Contains(img.Data, []byte("Exif\x00")) {
		t.Error("the cleaned image still holds the EXIF segment")
	}
	if bytes.Contains(img.Data, []byte{0xFF, 0xE1}) {
		t.Error("the cleaned image still has an APP1 segment")
	}
	if img.Width != 32 || img.Height != 24 {
		t.Errorf("cleaned size %dx%d, want 32x24", img.Width, img.Height)
	}
}
