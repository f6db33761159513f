package config

import (
	"flag"
	"reflect"
)

// AddFlags defines on fs a string flag for each key with a flag tag and
// returns the function that applies to a Config those given on the command
// line (after fs.Parse): a flag wins over the file and the environment. A
// value is read as the key's environment variable would be; a bad one is an
// [*Error] with File "command line" and the flag as Key, and leaves the
// Config unchanged.
func AddFlags(fs *flag.FlagSet) func(*Config) error {
	for _, s := range settings {
		if name := s.tag.Get("flag"); name != "" {
			fs.String(name, "", "`value` of "+s.key+", over the file and the environment")
		}
	}
	return func(c *Config) error {
		updated := *c
		fields := reflect.ValueOf(&updated).Elem()
		var problem *Error
		fs.Visit(func(given *flag.Flag) {
			for _, s := range settings {
				if problem == nil && s.tag.Get("flag") == given.Name {
					if msg := setFromEnv(&updated, fields.FieldByIndex(s.index), s, given.Value.String()); msg != "" {
						problem = &Error{File: "command line", Key: "--" + given.Name, Msg: msg}
					}
				}
			}
		})
		if problem != nil {
			return problem
		}
		*c = updated
		return nil
	}
}
