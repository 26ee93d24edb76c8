package portal

import (
	"fmt"
	"image"
	"image/color"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	qr "github.com/piglig/go-qr"
)

var (
	qrSize   = regexp.MustCompile(`viewBox="0 0 (\d+) (\d+)" class="qr"`)
	qrPath   = regexp.MustCompile(`<path fill="#000" d="([^"]+)"`)
	qrModule = regexp.MustCompile(`M(\d+) (\d+)h1v1h-1z`)
)

// decodeQRFromSVG rasterises the portal's QR SVG and decodes it with an
// independent decoder: the page's QR code really says what it should.
func decodeQRFromSVG(page string) (string, error) {
	m := qrSize.FindStringSubmatch(page)
	p := qrPath.FindStringSubmatch(page)
	if m == nil || p == nil {
		return "", fmt.Errorf("no QR svg in page")
	}
	n, _ := strconv.Atoi(m[1])
	const scale = 8
	img := image.NewGray(image.Rect(0, 0, n*scale, n*scale))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	for _, mod := range qrModule.FindAllStringSubmatch(p[1], -1) {
		x, _ := strconv.Atoi(mod[1])
		y, _ := strconv.Atoi(mod[2])
		for dy := 0; dy < scale; dy++ {
			for dx := 0; dx < scale; dx++ {
				img.SetGray(x*scale+dx, y*scale+dy, color.Gray{0})
			}
		}
	}
	return qr.Decode(img)
}

func TestQRSVGRoundTrip(t *testing.T) {
	for _, text := range []string{"joinedup://enrol?code=ABCD-EFGH&server=http%3A%2F%2F127.0.0.1%3A8080", strings.Repeat("x", 200)} {
		svg, err := qrSVG(text, "QR")
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeQRFromSVG(string(svg))
		if err != nil || got != text {
			t.Fatalf("round trip: %q, %v", got, err)
		}
	}
}

func readAll(resp *http.Response) string {
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
