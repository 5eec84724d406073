package kubectlkooper

import (
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/printers"
)

// jsonYAMLPrinter is kubectl's printer for -o json or -o yaml. The objects
// it prints must carry their apiVersion and kind.
func jsonYAMLPrinter(output string) (printers.ResourcePrinter, error) {
	return genericclioptions.NewJSONYamlPrintFlags().ToPrinter(output)
}

// objectPrinter is kubectl's printer for -o json, yaml, name or
// jsonpath=TEMPLATE (cli-runtime's PrintFlags). The objects it prints must
// carry their apiVersion and kind.
func objectPrinter(output string) (printers.ResourcePrinter, error) {
	flags := genericclioptions.NewPrintFlags("")
	flags.OutputFormat = &output
	return flags.ToPrinter()
}

// tablePrinter prints a metav1.Table as kubectl does: upper-case headers,
// aligned columns, the priority-1 columns only when wide.
func tablePrinter(wide bool) printers.ResourcePrinter {
	return printers.NewTablePrinter(printers.PrintOptions{Wide: wide})
}
