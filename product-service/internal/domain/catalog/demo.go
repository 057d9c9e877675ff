package catalog

import "github.com/google/uuid"

// Demo product IDs. They are fixed, not generated, because other services' demo data, the docs
// and the walkthroughs refer to them; LastOneLamp (stock 1) is the one to order twice to see an
// order rejected for want of stock.
var (
	TracingMugID         = uuid.MustParse("00000000-0000-4000-8000-000000000101")
	SpanSocksID          = uuid.MustParse("00000000-0000-4000-8000-000000000102")
	ExemplarHoodieID     = uuid.MustParse("00000000-0000-4000-8000-000000000103")
	BaggageToteID        = uuid.MustParse("00000000-0000-4000-8000-000000000104")
	SamplerStickerPackID = uuid.MustParse("00000000-0000-4000-8000-000000000105")
	CollectorCapID       = uuid.MustParse("00000000-0000-4000-8000-000000000106")
	ContextKeyboardID    = uuid.MustParse("00000000-0000-4000-8000-000000000107")
	LastOneLampID        = uuid.MustParse("00000000-0000-4000-8000-000000000108")
)

// DemoProducts returns the catalogue the demo starts with (SEED_DEMO_DATA).
func DemoProducts() []Product {
	return []Product{
		{ID: TracingMugID, Stock: 50, Details: Details{
			Name: "Tracing Mug", Category: "kitchen", PriceCents: 1200,
			Description: "Holds one coffee and one root span. Dishwasher safe; context is not."}},
		{ID: SpanSocksID, Stock: 100, Details: Details{
			Name: "Span Socks", Category: "apparel", PriceCents: 900,
			Description: "A parent and a child, always together. Cotton, one size."}},
		{ID: ExemplarHoodieID, Stock: 20, Details: Details{
			Name: "Exemplar Hoodie", Category: "apparel", PriceCents: 4500,
			Description: "Links your slowest bucket straight to its trace. Heavyweight fleece."}},
		{ID: BaggageToteID, Stock: 40, Details: Details{
			Name: "Baggage Tote", Category: "accessories", PriceCents: 1500,
			Description: "Carries key-value pairs across every hop. Canvas, 15 litres."}},
		{ID: SamplerStickerPackID, Stock: 500, Details: Details{
			Name: "Sampler Sticker Pack", Category: "accessories", PriceCents: 300,
			Description: "Ten stickers, kept at 100 %, none dropped."}},
		{ID: CollectorCapID, Stock: 30, Details: Details{
			Name: "Collector Cap", Category: "apparel", PriceCents: 2200,
			Description: "Receives, processes, exports. Adjustable strap."}},
		{ID: ContextKeyboardID, Stock: 10, Details: Details{
			Name: "Context Keyboard", Category: "desk", PriceCents: 8900,
			Description: "Mechanical switches; propagates every keystroke."}},
		{ID: LastOneLampID, Stock: 1, Details: Details{
			Name: "Last One Lamp", Category: "desk", PriceCents: 6400,
			Description: "There is exactly one. Order it twice to watch the saga say no."}},
	}
}
