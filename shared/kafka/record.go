package kafka

// Record is one Kafka message as tracecart produces and consumes it. Headers carry the W3C trace
// context ("traceparent", "tracestate") and tracecart's own metadata ("event-id", "event-type").
type Record struct {
	Topic string

	// Key picks the partition: records with the same key (tracecart uses the order ID) go to the
	// same partition and are consumed in the order they were published. An empty Key is sent as no
	// key, and such records are spread over the partitions.
	Key string

	Value   []byte
	Headers map[string]string

	// Partition and Offset are set on consumed records only.
	Partition int
	Offset    int64
}
