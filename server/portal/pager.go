package portal

import (
	"net/url"
	"strconv"

	"github.com/gofiber/fiber/v2"
)

// pageSize is how many rows a list page shows.
const pageSize = 50

// page is one page of a list: rows [From, To) of Total, with links to its
// neighbours that keep the list's filters.
type page struct {
	N, Pages, Total, From, To int
	Prev, Next                string // "" at the ends
}

func (pg page) shown() int { return pg.To - pg.From }

// parsePage reads ?page= (1-based) for a list of total rows. A page past the
// end is the last page, so a link kept from yesterday still shows something.
func parsePage(c *fiber.Ctx, total int) (page, error) {
	pg := page{N: 1, Total: total, Pages: (total + pageSize - 1) / pageSize}
	if pg.Pages == 0 {
		pg.Pages = 1
	}
	if s := c.Query("page"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1_000_000 {
			return pg, invalid("The page must be a whole number from 1.")
		}
		pg.N = min(n, pg.Pages)
	}
	pg.From = (pg.N - 1) * pageSize
	pg.To = min(pg.From+pageSize, total)
	link := func(n int) string {
		q, _ := url.ParseQuery(string(c.Request().URI().QueryString()))
		q.Set("page", strconv.Itoa(n))
		return c.Path() + "?" + q.Encode()
	}
	if pg.N > 1 {
		pg.Prev = link(pg.N - 1)
	}
	if pg.N < pg.Pages {
		pg.Next = link(pg.N + 1)
	}
	return pg, nil
}
