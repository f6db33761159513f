package config

import "strings"

// closestName returns the known name most similar to name, if it is close
// enough to be a likely typo (case is ignored).
func closestName(name string, known []string) (string, bool) {
	best, bestDistance := "", -1
	for _, candidate := range known {
		distance := editDistance(strings.ToLower(name), strings.ToLower(candidate))
		if bestDistance < 0 || distance < bestDistance {
			best, bestDistance = candidate, distance
		}
	}
	if bestDistance < 0 || bestDistance > typoTolerance(best) {
		return "", false
	}
	return best, true
}

// typoTolerance is the largest edit distance still considered a typo of name.
func typoTolerance(name string) int {
	switch length := len([]rune(name)); {
	case length <= 4:
		return 1
	case length <= 10:
		return 2
	default:
		return 3
	}
}

// editDistance is the optimal string alignment distance between a and b:
// the number of single-rune insertions, deletions, substitutions and
// adjacent transpositions turning a into b.
func editDistance(a, b string) int {
	s, t := []rune(a), []rune(b)
	// previous2, previous and current are the rows for prefixes of s of
	// length i-2, i-1 and i.
	previous2 := make([]int, len(t)+1)
	previous := make([]int, len(t)+1)
	current := make([]int, len(t)+1)
	for j := range previous {
		previous[j] = j
	}
	for i := 1; i <= len(s); i++ {
		current[0] = i
		for j := 1; j <= len(t); j++ {
			cost := 1
			if s[i-1] == t[j-1] {
				cost = 0
			}
			current[j] = min(previous[j]+1, current[j-1]+1, previous[j-1]+cost)
			if i > 1 && j > 1 && s[i-1] == t[j-2] && s[i-2] == t[j-1] {
				current[j] = min(current[j], previous2[j-2]+1)
			}
		}
		previous2, previous, current = previous, current, previous2
	}
	return previous[len(t)]
}
