# shop.sh: small shell functions the walkthroughs use to shop through the gateway with curl,
# so each page's commands stay short. Source it from the repository root:
#
#   . docs/walkthroughs/shop.sh
#   token=$(shop_login alice@example.com)
#   id=$(shop_order "$token" "$STICKERS" 1)
#   shop_wait "$token" "$id" 'CONFIRMED' 30
#
# TRACECART_GATEWAY overrides the gateway's address (default http://127.0.0.1:8080), for a demo
# started on other ports. Only bash, curl, grep and sed are needed (no jq).

GATEWAY=${TRACECART_GATEWAY:-http://127.0.0.1:8080}
# The demo catalogue's Sampler Sticker Pack (500 in stock, 3.00): the walkthroughs buy it so
# that they never run the shop out of stock.
STICKERS=00000000-0000-4000-8000-000000000105

# shop_login EMAIL prints an access token for a demo user (password tracecart-demo).
shop_login() {
	curl -sf -X POST "$GATEWAY/api/auth/login" -H 'Content-Type: application/json' \
		-d "{\"email\":\"$1\",\"password\":\"tracecart-demo\"}" |
		sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p'
}

# shop_order TOKEN PRODUCT QUANTITY places an order and prints its ID.
shop_order() {
	curl -sf -X POST "$GATEWAY/api/orders" -H "Authorization: Bearer $1" -H 'Content-Type: application/json' \
		-d "{\"lines\":[{\"product_id\":\"$2\",\"quantity\":$3}]}" |
		sed -n 's/^{"id":"\([^"]*\)".*/\1/p'
}

# shop_cancel TOKEN ORDER cancels an order (a CONFIRMED one is refunded and restocked).
shop_cancel() {
	curl -sf -X POST "$GATEWAY/api/orders/$2/cancel" -H "Authorization: Bearer $1" >/dev/null
}

# shop_status TOKEN ORDER prints the order's status and reason, e.g. "CANCELLED declined".
shop_status() {
	local body
	body=$(curl -sf "$GATEWAY/api/orders/$2" -H "Authorization: Bearer $1") || return 1
	printf '%s %s\n' "$(printf '%s' "$body" | sed -n 's/.*"status":"\([^"]*\)".*/\1/p')" \
		"$(printf '%s' "$body" | sed -n 's/.*"reason":"\([^"]*\)".*/\1/p')"
}

# shop_wait TOKEN ORDER PATTERN SECONDS waits until the order's "status reason" matches the
# extended regular expression PATTERN, and fails with what it saw if SECONDS pass first.
shop_wait() {
	local deadline=$((SECONDS + $4)) now
	while :; do
		now=$(shop_status "$1" "$2")
		if printf '%s' "$now" | grep -Eq "$3"; then
			echo "order $2: $now"
			return 0
		fi
		if ((SECONDS >= deadline)); then
			echo "order $2 is '$now' after $4 s, want /$3/" >&2
			return 1
		fi
		sleep 0.5
	done
}

# shop_wallet TOKEN prints the user's wallet: balance and latest transactions, as JSON.
shop_wallet() {
	curl -sf "$GATEWAY/api/users/me/wallet" -H "Authorization: Bearer $1"
}

# shop_ledger TOKEN ORDER KIND counts the wallet's KIND (debit, refund) entries for the order.
shop_ledger() {
	shop_wallet "$1" | grep -o "\"kind\":\"$3\",\"amount_cents\":[0-9]*,\"order_id\":\"$2\"" | grep -c . || true
}
