package config

import (
	"strings"

	"github.com/hbollon/go-edlib"
)

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
var editDistance = edlib.OSADamerauLevenshteinDistance
