package referral

import (
	"bytes"
	"image"
	"image/gif"
	"image/png"
	"testing"

	"github.com/fairslot/fairslot"
	. "github.com/fairslot/fairslot/internal/referral/referraltest"
)

func TestClean(t *testing.T) {
	var pngb, gifb bytes.Buffer
	png.Encode(&pngb, Picture(20, 10))
	gif.Encode(&gifb, Picture(8, 8), nil)
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
