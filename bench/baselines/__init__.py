"""The bare stacks the service is measured against: the same libraries, none of our code."""
