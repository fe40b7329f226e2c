package report_test

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cxloop/cxloop/internal/report"
	"github.com/cxloop/cxloop/internal/testutil"
)

// phoneWidth is the CSS width of a small phone (iPhone SE, mini).
const phoneWidth = 375

// chromium finds a headless-capable Chromium or Chrome. In CI (CI=true) a
// missing browser fails the test: .ci/run installs Debian's chromium.
func chromium(t *testing.T) string {
	t.Helper()
	return testutil.ChromiumPath(t)
}

// writePage writes the report HTML with its charts as files next to it (a
// browser cannot resolve cid: URLs), framed in a page that shows it
// phoneWidth pixels wide and records, once it has loaded, the report's
// scroll width and how many of its images loaded. (Headless Chromium does
// not make windows narrower than 500 px, so the frame sets the width.)
func writePage(t *testing.T, rd *report.Rendered) string {
	t.Helper()
	dir := t.TempDir()
	page := rd.HTML
	for _, a := range rd.Attachments {
		if err := os.WriteFile(filepath.Join(dir, a.Filename), a.Data, 0o644); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(page, "cid:"+a.ContentID) {
			t.Errorf("HTML does not reference attachment %s", a.ContentID)
		}
		page = strings.ReplaceAll(page, "cid:"+a.ContentID, a.Filename)
	}
	wrapper := fmt.Sprintf(`<!DOCTYPE html><html><body style="margin:0;background:#fff">
<iframe id="report" style="display:block;width:%dpx;height:4000px;border:0" srcdoc="%s"></iframe>
<script>
document.getElementById("report").addEventListener("load", function () {
  var d = this.contentDocument, imgs = d.images, ok = 0;
  for (var i = 0; i < imgs.length; i++) { if (imgs[i].complete && imgs[i].naturalWidth > 0) ok++; }
  document.body.setAttribute("data-scroll-width", d.documentElement.scrollWidth);
  document.body.setAttribute("data-client-width", d.documentElement.clientWidth);
  document.body.setAttribute("data-images-loaded", ok + "/" + imgs.length);
});
</script></body></html>`, phoneWidth, html.EscapeString(page))
	path := filepath.Join(dir, "frame.html")
	if err := os.WriteFile(path, []byte(wrapper), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func runChromium(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
		"--no-first-run", "--disable-extensions", "--allow-file-access-from-files",
		"--user-data-dir=" + t.TempDir(), "--force-device-scale-factor=1"}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %v: %v\n%s", bin, args, err, stderr.String())
	}
	return stdout.Bytes()
}

// TestReportInBrowserAtPhoneWidth renders the email HTML in headless
// Chromium at 375 px: the page must not scroll sideways, every chart must
// load, and the screenshot must show the trend line.
func TestReportInBrowserAtPhoneWidth(t *testing.T) {
	bin := chromium(t)
	rd := buildFixture(t)
	page := writePage(t, rd)
	url := "file://" + page

	dom := string(runChromium(t, bin, "--window-size=500,2000", "--virtual-time-budget=5000", "--dump-dom", url))
	attr := func(name string) string {
		m := regexp.MustCompile(name + `="([^"]*)"`).FindStringSubmatch(dom)
		if m == nil {
			t.Fatalf("the page did not record %s; DOM starts: %.300s", name, dom)
		}
		return m[1]
	}
	scroll, _ := strconv.Atoi(attr("data-scroll-width"))
	client, _ := strconv.Atoi(attr("data-client-width"))
	if client != phoneWidth {
		t.Errorf("viewport is %d px wide, want %d", client, phoneWidth)
	}
	if scroll > client {
		t.Errorf("page scrolls sideways at %d px: content is %d px wide", client, scroll)
	}
	if got, want := attr("data-images-loaded"), fmt.Sprintf("%d/%d", len(rd.Attachments), len(rd.Attachments)); got != want || len(rd.Attachments) == 0 {
		t.Errorf("charts loaded: %s, want %s (and at least one)", got, want)
	}

	shot := filepath.Join(t.TempDir(), "shot.png")
	runChromium(t, bin, "--window-size=500,2400", "--virtual-time-budget=5000", "--screenshot="+shot, url)
	if keep := os.Getenv("CXLOOP_TEST_KEEP_SCREENSHOT"); keep != "" {
		if data, err := os.ReadFile(shot); err == nil {
			_ = os.WriteFile(keep, data, 0o644)
		}
	}
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("decode screenshot: %v", err)
	}
	if n := seriesPixels(img); n < 100 {
		t.Errorf("screenshot shows %d pixels of the trend line's colour, want a visible chart (>= 100); saved at %s", n, shot)
	}
}

// seriesPixels counts pixels close to the trend line's colour, which nothing
// else on the page uses.
func seriesPixels(img image.Image) int {
	want := report.SeriesColor()
	near := func(a uint32, b uint8) bool { d := int(a>>8) - int(b); return d > -24 && d < 24 }
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if near(r, want.R) && near(g, want.G) && near(bl, want.B) {
				n++
			}
		}
	}
	return n
}
