package store

import (
	"context"
	"runtime"
	"sync"
	"time"
)

// saveRequest is one SaveResponses call waiting for the committer.
type saveRequest struct {
	ctx       context.Context
	responses []NewResponse
	// encoded[i] is responses[i] encoded by the caller's goroutine, before
	// it queues, so that the one committer only writes; encErr[i] is why
	// it could not be.
	encoded []encodedResponse
	encErr  []error
	results []SaveResult
	err     error
	done    chan struct{}
}

// flushFunc writes the responses of a batch of requests in one transaction
// and fills each request's results. An error fails the whole batch.
type flushFunc func(ctx context.Context, reqs []*saveRequest) error

// committer batches concurrent SaveResponses calls: one goroutine takes the
// first waiting request, then every request already queued (up to maxBatch
// responses), writes them in one transaction and answers them all. While a
// transaction commits, the next batch queues up, so the batch size follows
// the load without a timer; before it takes the queued requests, it yields
// the processor once to the goroutines ready to run.
type committer struct {
	queue    chan *saveRequest
	flush    flushFunc
	maxBatch int
	timeout  time.Duration
	onCommit func(CommitStats)

	mu       sync.RWMutex
	closed   bool
	finished chan struct{}
}

func newCommitter(flush flushFunc, cfg Config) *committer {
	c := &committer{
		queue:    make(chan *saveRequest, cfg.QueueSize),
		flush:    flush,
		maxBatch: cfg.MaxBatch,
		timeout:  cfg.CommitTimeout,
		onCommit: cfg.OnCommit,
		finished: make(chan struct{}),
	}
	var wg sync.WaitGroup
	for range max(1, cfg.Committers) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.run()
		}()
	}
	go func() {
		wg.Wait()
		close(c.finished)
	}()
	return c
}

// save queues the responses and waits for their group commit.
func (c *committer) save(ctx context.Context, responses []NewResponse) ([]SaveResult, error) {
	if len(responses) == 0 {
		return nil, nil
	}
	req := &saveRequest{ctx: ctx, responses: responses, done: make(chan struct{}),
		encoded: make([]encodedResponse, len(responses)), encErr: make([]error, len(responses))}
	for i := range responses {
		req.encoded[i], req.encErr[i] = encodeResponse(&responses[i])
	}
	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		return nil, ErrClosed
	}
	select {
	case c.queue <- req:
		c.mu.RUnlock()
	case <-ctx.Done():
		c.mu.RUnlock()
		return nil, ctx.Err()
	}
	select {
	case <-req.done:
		return req.results, req.err
	case <-ctx.Done():
		// The batch may still commit; a retry with the same ids is answered
		// as a duplicate.
		return nil, ctx.Err()
	}
}

// close stops accepting requests and waits until the queued ones are
// committed.
func (c *committer) close() {
	c.mu.Lock()
	if !c.closed {
		c.closed = true
		close(c.queue)
	}
	c.mu.Unlock()
	<-c.finished
}

func (c *committer) run() {
	var batch []*saveRequest
	for first := range c.queue {
		batch = append(batch[:0], first)
		n := len(first.responses)
		// The goroutines ready to run (handlers about to queue a
		// response) run first, so their responses join this commit
		// instead of each waiting for the next: without it batches were
		// about 9 responses from 64 clients, with it about 16. With
		// nothing else ready to run it returns at once.
		runtime.Gosched()
	collect:
		for n < c.maxBatch {
			select {
			case req, ok := <-c.queue:
				if !ok {
					break collect
				}
				batch = append(batch, req)
				n += len(req.responses)
			default:
				break collect
			}
		}
		c.commit(batch)
	}
}

func (c *committer) commit(batch []*saveRequest) {
	// Requests whose caller gave up are not written.
	live := batch[:0:0]
	responses := 0
	for _, req := range batch {
		if err := req.ctx.Err(); err != nil {
			req.err = err
			close(req.done)
			continue
		}
		req.results = make([]SaveResult, len(req.responses))
		live = append(live, req)
		responses += len(req.responses)
	}
	if len(live) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	start := time.Now()
	err := c.flush(ctx, live)
	cancel()
	if c.onCommit != nil {
		c.onCommit(CommitStats{Responses: responses, Requests: len(live), Duration: time.Since(start), Err: err})
	}
	for _, req := range live {
		if err != nil {
			req.results, req.err = nil, err
		}
		close(req.done)
	}
}

// items flattens the responses of a batch with the slot of each result.
type batchItem struct {
	r      *NewResponse
	enc    *encodedResponse
	encErr error
	res    *SaveResult
}

func batchItems(reqs []*saveRequest) []batchItem {
	var items []batchItem
	for _, req := range reqs {
		for i := range req.responses {
			items = append(items, batchItem{r: &req.responses[i], enc: &req.encoded[i], encErr: req.encErr[i], res: &req.results[i]})
		}
	}
	return items
}
