package aftercommit

import (
	"context"
	"slices"
	"testing"
)

func TestDoWaitsForTheCommit(t *testing.T) {
	var ran []int
	ctx, commit := Begin(context.Background())
	Do(ctx, func() { ran = append(ran, 1) })
	Do(ctx, func() { ran = append(ran, 2) })
	if len(ran) != 0 {
		t.Fatalf("ran %v before the commit", ran)
	}
	commit()
	if !slices.Equal(ran, []int{1, 2}) {
		t.Fatalf("after the commit ran %v, want [1 2]", ran)
	}
	commit()
	if len(ran) != 2 {
		t.Fatalf("a second commit ran the hooks again: %v", ran)
	}
}

func TestDoOutsideAUnitOfWorkRunsAtOnce(t *testing.T) {
	ran := false
	Do(context.Background(), func() { ran = true })
	if !ran {
		t.Fatal("Do without Begin did not run fn")
	}
}

func TestARolledBackUnitRunsNothing(t *testing.T) {
	ran := false
	ctx, _ := Begin(context.Background()) // rolled back: commit is never called
	Do(ctx, func() { ran = true })
	if ran {
		t.Fatal("a hook ran although the unit of work never committed")
	}
}
