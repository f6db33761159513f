package receiver

// slotSet hands out the lowest free counter slot, so that the slots in use stay
// packed at the front of the counters map and a read covers few unused ones.
type slotSet struct {
	used []bool
}

func newSlotSet(n int) *slotSet { return &slotSet{used: make([]bool, n)} }

// take returns the lowest free slot, or false when all are used.
func (s *slotSet) take() (int, bool) {
	for i, used := range s.used {
		if !used {
			s.used[i] = true
			return i, true
		}
	}
	return 0, false
}

func (s *slotSet) release(slot int) { s.used[slot] = false }

// claim marks slot used, reporting false when it already was.
func (s *slotSet) claim(slot int) bool {
	if s.used[slot] {
		return false
	}
	s.used[slot] = true
	return true
}

// end returns one past the highest slot in use.
func (s *slotSet) end() int {
	for i := len(s.used) - 1; i >= 0; i-- {
		if s.used[i] {
			return i + 1
		}
	}
	return 0
}
